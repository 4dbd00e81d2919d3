"""Answers in each provider's wire style: errors, faults, and the usual response headers."""

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from voxgate.simulator.faults import Fault

TIMEOUT_SLEEP_SECONDS = 600
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
    500: "server_error",
    503: "server_error",
}
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class SimError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def openai_error(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def gemini_error(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _GEMINI_STATUS.get(status, "UNKNOWN"),
        }
    }


ErrorShape = Callable[[int, str, str | None], dict[str, Any]]


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise SimError(400, "We could not parse the JSON body of your request.") from exc
    if not isinstance(body, dict):
        raise SimError(400, "The body must be a JSON object.")
    return body


def required(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise SimError(400, f"Missing required parameter: '{field}'.", field)
    return value


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    base = {"x-request-id": f"sim_{secrets.token_hex(8)}", "x-ratelimit-remaining-requests": "999"}
    return Response(orjson.dumps(body), status, base | (headers or {}), "application/json")


def ignores_streaming(request: Request) -> bool:
    """Whether this request was queued an `unstreamed` fault: answer it whole whatever it asked,
    as a compatible server that ignores `stream` and `stream_format` does."""
    return bool(getattr(request.state, "unstreamed", False))


def ignores_caps(request: Request) -> bool:
    """Whether this request was queued an `uncapped` fault: answer past the bounds it set."""
    return bool(getattr(request.state, "uncapped", False))


async def answer(
    fault: Fault | None, shape: ErrorShape, produce: Callable[[], Awaitable[Response]]
) -> Response:
    """The normal answer, unless a fault is due; SimError becomes the provider's error shape."""
    if fault is not None:
        await asyncio.sleep(fault.latency_ms / 1000)
        if fault.status is not None:
            return _fault_status(fault, shape)
        if fault.kind == "timeout":
            await asyncio.sleep(TIMEOUT_SLEEP_SECONDS)
        if fault.kind == "reset":
            return BrokenResponse(keep=0)
    try:
        response = await produce()
    except SimError as exc:
        return json_response(shape(exc.status, exc.message, exc.param), exc.status)
    if fault is not None and fault.kind == "malformed":
        return Response(b'{"this is": "not the protocol', 200, media_type="application/json")
    if fault is not None and fault.kind == "cut":
        # A stream is cut after its first chunk (audio has gone out); a whole answer midway.
        if isinstance(response, StreamingResponse):
            return CutStream(response)
        return BrokenResponse(keep=64)
    return response


def _fault_status(fault: Fault, shape: ErrorShape) -> Response:
    status = fault.status or 500
    headers = {}
    if fault.retry_after_seconds is not None:
        headers["retry-after"] = f"{fault.retry_after_seconds:g}"
        headers["retry-after-ms"] = str(int(fault.retry_after_seconds * 1000))
    message = fault.message or f"Simulated fault {status}."
    return json_response(shape(status, message, None), status, headers)


class CutStream(Response):
    """A streamed answer whose connection drops after its first chunk."""

    def __init__(self, stream: StreamingResponse) -> None:
        super().__init__(status_code=stream.status_code)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = self.stream.raw_headers
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        async for chunk in self.stream.body_iterator:
            body = chunk if isinstance(chunk, bytes) else str(chunk).encode()
            await send({"type": "http.response.body", "body": body, "more_body": True})
            break
        raise ConnectionResetError("simulated connection drop")


class BrokenResponse(Response):
    """Promises a body it never finishes: the connection drops after `keep` bytes."""

    def __init__(self, keep: int) -> None:
        super().__init__(b"x" * keep, 200, media_type="application/json")
        self.keep = keep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"100000")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        raise ConnectionResetError("simulated connection drop")
