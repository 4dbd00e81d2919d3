"""Server-sent events, as OpenAI streams them: `data: <json>` blocks."""

from collections.abc import AsyncIterator
from typing import Any

import orjson

from voxgate.api.responses import StreamingResponse


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def sse_response(
    events: AsyncIterator[bytes], headers: dict[str, str] | None = None
) -> StreamingResponse:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", **(headers or {})},
    )
