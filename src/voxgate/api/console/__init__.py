"""The web console at /console: server-rendered pages over the stores the APIs read."""
