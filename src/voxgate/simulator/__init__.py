"""A provider simulator: a real HTTP server speaking the OpenAI, Azure OpenAI and Gemini audio
protocols, with real audio from the local engine (or fixed bytes in fast mode) and faults on
demand. The gateway's tests run against it; users can test their own apps with it."""
