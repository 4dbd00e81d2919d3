"""The HTTP server's connection limits, below the ASGI app: a connection must finish sending
its request headers within a deadline (idle and slow-header connections are closed), and one
client address may hold only so many connections. Uvicorn closes idle keep-alive connections
itself (`timeout_keep_alive`) and answers 503 past `limit_concurrency` — except to the liveness
probe, which says the process is alive however busy it is (a full server answering /healthz
with 503 gets restarted by its orchestrator: an outage made of a load)."""

import asyncio
import ipaddress
import resource
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from voxgate.settings import Settings

LIVENESS_PATH = b"/healthz"


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout_seconds: float
    max_connections_per_client: int | None
    # A proxy's connections carry many clients: the proxy caps per address itself.
    uncapped: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    uncap_everyone: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> "ConnectionLimits":
        entries = [entry.strip() for entry in settings.trusted_proxies.split(",")]
        return cls(
            header_timeout_seconds=settings.header_timeout_seconds,
            max_connections_per_client=settings.max_connections_per_client,
            uncapped=tuple(
                ipaddress.ip_network(entry, strict=False)
                for entry in entries
                if entry and entry != "*"
            ),
            uncap_everyone="*" in entries,
        )

    def caps(self, host: str) -> bool:
        if self.max_connections_per_client is None or self.uncap_everyone:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return True
        return not any(address in network for network in self.uncapped)


class GuardedHttpProtocol(HttpToolsProtocol):
    """Uvicorn's httptools protocol with a header deadline and a cap per client address."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = limits
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._over_client_cap():
            transport.close()
            return
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:
            self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        if not self._is_liveness_probe():
            super().on_headers_complete()
            return
        limit, self.limit_concurrency = self.limit_concurrency, None
        try:
            super().on_headers_complete()
        finally:
            self.limit_concurrency = limit

    def _is_liveness_probe(self) -> bool:
        try:
            path: bytes = httptools.parse_url(self.url).path
        except httptools.HttpParserInvalidURLError:
            return False
        return path == LIVENESS_PATH

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(
            self._limits.header_timeout_seconds, self._headers_too_slow
        )

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _over_client_cap(self) -> bool:
        cap = self._limits.max_connections_per_client
        if cap is None or self.client is None or not self._limits.caps(self.client[0]):
            return False
        host = self.client[0]
        same = sum(
            1
            for other in self.connections
            if (client := getattr(other, "client", None)) is not None and client[0] == host
        )
        return same > cap


def raise_open_file_limit() -> int:
    """The soft limit on open files raised to the hard one: each connection holds a descriptor,
    and the usual soft default (1,024) caps connections far below what the server can hold."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft
    return hard
