"""What an upstream call can fail with, and whether another route or key may succeed."""

import re

# Statuses that say "not now" rather than "not this request": another key or route may work.
# 413 too: one provider's size limit (OpenAI's 25 MB upload) is not another's (the local engine).
RETRIABLE_STATUSES = frozenset({408, 409, 413, 429, 500, 502, 503, 504})

# What a provider's error text may say of the operator's credential, which its client must not
# read: OpenAI's 401 names the key's first and last characters ("Incorrect API key provided:
# sk-proj-****abcd", and any other key whole or masked); Google's keys start AIza; a masked key
# is a run of asterisks; Azure's are 32 hex digits; any text may quote an Authorization header.
KEY_LIKE = re.compile(
    r"""
    \b(?:sk|pk|rk|sess)-[A-Za-z0-9_\-*]{4,}     # OpenAI (and Anthropic-style) keys
    | \bAIza[A-Za-z0-9_\-]{10,}                   # Google API keys
    | [^\s*]*\*{4,}[^\s*.,;]*                      # any masked secret
    | \b[0-9a-fA-F]{32,}\b                         # Azure keys, and other hex secrets
    | (?i:\bbearer\s+)[^\s,;]+                     # a quoted Authorization header
    | (?i:(?<=key\ provided:\ ))[^\s,;]+?(?=\.?(?:\s|$))  # whatever key OpenAI names
    """,
    re.VERBOSE,
)
REDACTED = "[redacted]"


def without_keys(text: str) -> str:
    """`text` with anything that looks like a credential replaced: the rest of a provider's
    message still reaches the client (transparency), the key's characters never do."""
    return KEY_LIKE.sub(REDACTED, text)


class UpstreamError(Exception):
    """A provider call failed; `status` is None when no HTTP answer came back, or when a 200's
    body was not what the protocol promises. `retriable` overrides the status's verdict."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        retry_after_seconds: float | None = None,
        retriable: bool | None = None,
    ) -> None:
        # Filtered here, where every provider's text enters: client errors, usage records and
        # logs all read it from this object.
        message = without_keys(message)
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.status = status
        self.retry_after_seconds = retry_after_seconds
        self._retriable = retriable

    @property
    def retriable(self) -> bool:
        if self._retriable is not None:
            return self._retriable
        return self.status is None or self.status in RETRIABLE_STATUSES


class NotStreamed(UpstreamError):
    """A streamed request answered whole, as a server that ignores `stream` answers: the
    endpoint that asked delivers the whole answer instead (elsewhere it is a failed attempt)."""

    def __init__(self, provider: str, body: bytes, content_type: str) -> None:
        super().__init__(
            provider, f"expected server-sent events, got {content_type}", retriable=True
        )
        self.body = body
        self.content_type = content_type
