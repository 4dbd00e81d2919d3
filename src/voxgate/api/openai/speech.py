"""POST /v1/audio/speech: audio bytes, streamed as they are made, or SSE events."""

import base64
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from voxgate.api.auth import authenticate
from voxgate.api.bodies import json_body
from voxgate.api.context import services_of
from voxgate.api.openai.sse import event, sse_response
from voxgate.api.responses import StreamingResponse
from voxgate.errors import GatewayError, InvalidRequestError
from voxgate.gateway.speech_cache import SpeechAnswer

# OpenAI's names for the formats, where they differ from the catalog's.
FORMATS = {"pcm": "pcm16"}
STREAM_FORMATS = ("audio", "sse")


async def create_speech(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_body")
    stream_format = body.pop("stream_format", "audio")
    if stream_format not in STREAM_FORMATS:
        raise InvalidRequestError(
            f"Invalid value for 'stream_format': {stream_format!r}; use audio or sse.",
            param="stream_format",
            code="invalid_value",
        )
    unified = _unified(body)
    stream = await services.gateway.stream_speech(principal, unified, request.state.request_id)
    if stream_format == "sse":
        return sse_response(_events(stream))
    return StreamingResponse(_bytes(stream), media_type=stream.content_type)


def _unified(body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI body as a unified tts request, checked against the model's catalog row."""
    response_format = body.get("response_format")
    if isinstance(response_format, str):  # anything else is refused by name in validation
        body["response_format"] = FORMATS.get(response_format, response_format)
    return {**body, "task": "tts"}


async def _bytes(stream: SpeechAnswer) -> AsyncIterator[bytes]:
    """The audio as it is made; a failure after the first byte can only cut the body short."""
    async with aclosing(stream.chunks()) as chunks:
        async for chunk in chunks:
            yield chunk.data


async def _events(stream: SpeechAnswer) -> AsyncIterator[bytes]:
    try:
        async with aclosing(stream.chunks()) as chunks:
            async for chunk in chunks:
                if chunk.data:
                    audio = base64.b64encode(chunk.data).decode()
                    yield event({"type": "speech.audio.delta", "audio": audio})
    except GatewayError as exc:
        yield event({"type": "error", "error": exc.body()["error"]})
        return
    usage = stream.usage or {}
    tokens_in, tokens_out = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    yield event(
        {
            "type": "speech.audio.done",
            "usage": {
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        }
    )
