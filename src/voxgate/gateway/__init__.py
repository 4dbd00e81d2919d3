"""The gateway core: validate → resolve task → plan routes → hold → call → convert → settle."""
