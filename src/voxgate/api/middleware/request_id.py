"""Gives every request an id, exposed to handlers and returned as `x-request-id`: the one a
trusted proxy sent when it is well formed (so its logs and ours name the request alike), else a
new one. Runs before the forwarded headers are applied, so it sees the connection's own peer."""

import ipaddress
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
# Short enough for the usage record's key, and nothing a log line or a header could be split on.
WELL_FORMED = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, *, trusted_proxies: str) -> None:
        self.app = app
        self.trust_everyone = trusted_proxies.strip() == "*"
        self.trusted = [
            ipaddress.ip_network(entry.strip(), strict=False)
            for entry in trusted_proxies.split(",")
            if entry.strip() and entry.strip() != "*"
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        inbound = _inbound(scope) if self._from_trusted_proxy(scope) else None
        request_id = inbound or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_id)

    def _from_trusted_proxy(self, scope: Scope) -> bool:
        if self.trust_everyone:
            return True
        client = scope.get("client")
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for network in self.trusted)


def _inbound(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == REQUEST_ID_HEADER and WELL_FORMED.fullmatch(value):
            return value.decode("ascii")
    return None
