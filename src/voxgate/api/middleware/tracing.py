"""One server span per HTTP request, the parent of everything the request does (its attempts,
decoding, billing), named by its route template once the router has chosen it."""

from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.tracing import Tracing


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracing: Tracing | None = getattr(scope["app"].state, "tracing", None)
        if scope["type"] != "http" or tracing is None or tracing.provider is None:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "voxgate.request_id": scope.get("state", {}).get("request_id", ""),
        }
        with tracing.tracer.start_as_current_span(
            method, kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def recording_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
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
