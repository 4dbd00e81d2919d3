"""One server span per HTTP request or WebSocket session, the parent of everything it does (its
attempts, decoding, billing, a session's responses and their stages), named by its route
template once the router has chosen it."""

from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.tracing import Tracing

# A WebSocket's span is named as the session's access line names its method.
WEBSOCKET = "WEBSOCKET"
SWITCHING_PROTOCOLS = 101


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracing: Tracing | None = getattr(scope["app"].state, "tracing", None)
        kind = scope["type"]
        if kind not in ("http", "websocket") or tracing is None or tracing.provider is None:
            await self.app(scope, receive, send)
            return
        method = scope["method"] if kind == "http" else WEBSOCKET
        attributes: dict[str, Any] = {
            "http.request.method": scope.get("method", "GET"),
            "url.path": scope["path"],
            "voxgate.request_id": scope.get("state", {}).get("request_id", ""),
        }
        with tracing.tracer.start_as_current_span(
            method, kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def recording_send(message: Message) -> None:
                status = _status(message)
                if status is not None:
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, recording_send)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route is not None:
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")


def _status(message: Message) -> int | None:
    """The HTTP status a message answers with: a response's, a refused handshake's, or 101 for
    an accepted WebSocket."""
    if message["type"] in ("http.response.start", "websocket.http.response.start"):
        return int(message["status"])
    if message["type"] == "websocket.accept":
        return SWITCHING_PROTOCOLS
    return None
