"""A provider simulator: a real HTTP server speaking the OpenAI, Azure OpenAI and Gemini audio
protocols, with real audio from the local engine (or fixed bytes in fast mode) and faults on
demand. The gateway's tests run against it; users can test their own apps with it.

Knobs (see `faults` and `pacing`): an API key `fail-<kind>` fails every request it makes;
`POST /_sim/faults {"credential", "faults": [...]}` queues faults for a key's next requests;
`POST /_sim/chaos` fails requests at random; `x-sim-pace: <first_chunk_ms>,<chunk_interval_ms>`
on a request, or a queued `{"kind": "paced", "first_chunk_ms", "chunk_interval_ms"}`, streams
the answer at that pace (time-to-first-byte tests); `GET /_sim/requests` lists the requests
received (path, query, key, auth headers, JSON body, multipart fields); `POST /_sim/reset`."""
