"""Observes every HTTP request when it ends: counted by its route template, status and latency,
and written as one access line. A client that hung up before the answer was complete is 499."""

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.logs import ACCESS_LOGGER, begin_access_record
from voxgate.metrics import Metrics
from voxgate.store.keys import KEY_PREFIX, SHOWN_PREFIX_LENGTH

CLIENT_CLOSED_REQUEST = 499
access_logger = logging.getLogger(ACCESS_LOGGER)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        usage = begin_access_record()
        status = 500
        complete = False
        hung_up = False

        async def watching_receive() -> Message:
            nonlocal hung_up
            message = await receive()
            hung_up = hung_up or message["type"] == "http.disconnect"
            return message

        async def recording_send(message: Message) -> None:
            nonlocal status, complete, hung_up
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            try:
                await send(message)
            except OSError:
                hung_up = True
                raise

        try:
            await self.app(scope, watching_receive, recording_send)
        finally:
            if hung_up and not complete:
                status = CLIENT_CLOSED_REQUEST
            seconds = time.perf_counter() - started
            template = _template(scope)
            metrics: Metrics | None = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                metrics.observe_request(template, status, seconds)
            _log_access(scope, template, status, seconds, usage)


def _template(scope: Scope) -> str:
    """The route's path template, so that ids do not make a series each (the router leaves
    the route it chose in the scope)."""
    return str(getattr(scope.get("route"), "path", "unmatched"))


def _log_access(
    scope: Scope, template: str, status: int, seconds: float, usage: dict[str, Any]
) -> None:
    if not access_logger.isEnabledFor(logging.INFO):
        return
    state: dict[str, Any] = scope.get("state", {})
    fields = {
        "request_id": state.get("request_id", "-"),
        "client": scope["client"][0] if scope.get("client") else "-",
        "key": _key_prefix(scope),
        "method": scope["method"],
        "path": template,
        "status": status,
        "latency_ms": round(seconds * 1000, 1),
        "model": usage.get("model") or "-",
        "route": usage.get("route") or "-",
        "cost_micro_usd": usage.get("cost_micro_usd"),
    }
    access_logger.info(
        " ".join(f"{name}={'-' if value is None else value}" for name, value in fields.items()),
        extra=fields,
    )


def _key_prefix(scope: Scope) -> str:
    """The shown prefix of a workspace key (as `voxgate keys list` prints it); never more of
    it, and nothing of any other bearer token."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"authorization":
            token = value.decode("latin-1").removeprefix("Bearer ").strip()
            if token.startswith(KEY_PREFIX):
                return token[:SHOWN_PREFIX_LENGTH]
    return "-"
