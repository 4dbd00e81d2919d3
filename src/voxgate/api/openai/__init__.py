"""The OpenAI-compatible surface (/v1/...): the official SDKs work against it unchanged."""
