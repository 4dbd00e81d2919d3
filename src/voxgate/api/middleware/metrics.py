"""Counts every HTTP request by its route template and status, with its latency."""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.metrics import Metrics


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            metrics: Metrics | None = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                metrics.observe_request(_template(scope), status, time.perf_counter() - started)


def _template(scope: Scope) -> str:
    """The route's path template, so that ids do not make a series each (the router leaves
    the route it chose in the scope)."""
    return str(getattr(scope.get("route"), "path", "unmatched"))
