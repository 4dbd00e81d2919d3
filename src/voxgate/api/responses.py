"""JSON responses encoded once with orjson, streamed responses, and errors in the OpenAI shape."""

import asyncio
import logging
from typing import Any

import orjson
from starlette import responses
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from voxgate.errors import GatewayError

logger = logging.getLogger("voxgate.api")


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: GatewayError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)


class StreamingResponse(responses.StreamingResponse):
    """Starlette's streamed response on two plain asyncio tasks: one sends the body, one waits
    for the client to hang up and then cancels the first (so a stream nobody hears is released,
    not billed). Starlette does the same through an anyio task group, measured 0.6 ms slower
    per streamed answer at concurrency 1."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sending = asyncio.ensure_future(self.stream_response(send))
        listening = asyncio.ensure_future(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait((sending, listening), return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Also on our own cancellation: neither task may outlive the response.
            for task in (sending, listening):
                task.cancel()
            await asyncio.gather(sending, listening, return_exceptions=True)
            # Cancelled while a slow client drained a chunk, the body is left at a yield: it
            # is closed here, so that its stream settles now, not whenever the collector runs.
            closing = getattr(self.body_iterator, "aclose", None)
            if closing is not None:
                await closing()
        for task in (sending, listening):
            error = None if task.cancelled() else task.exception()
            if isinstance(error, GatewayError):
                # The answer had begun: no status can say so now. One line, and the body is
                # left unfinished, so the server drops the connection and the client sees the
                # answer cut short rather than complete.
                logger.warning("stream cut short after it began: %s", error.message)
                return
            if error is not None:
                raise error
        if self.background is not None:
            await self.background()
