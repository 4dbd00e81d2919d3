"""What an upstream call can fail with, and whether another route or key may succeed."""

# Statuses that say "not now" rather than "not this request": another key or route may work.
# 413 too: one provider's size limit (OpenAI's 25 MB upload) is not another's (the local engine).
RETRIABLE_STATUSES = frozenset({408, 409, 413, 429, 500, 502, 503, 504})


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
