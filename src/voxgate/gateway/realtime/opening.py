"""The realtime half of a session's path: `AudioGateway.open_session` admits a session and
holds its first step; this module validates and plans it beforehand (its routes, its caps,
whether it is relayed or served here) and serves it once the client's socket is accepted. The
handlers keep only who connects, accepting and closing; a refusal comes out of
`open_session` before the socket is accepted, so the handshake itself can answer it.

Minting a client secret lives here too: it is refused for a workspace that could not pay the
model's minimum hold, and its stored session is bounded in size; its usage record is its
Charge's, as every request's is.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from voxgate.billing.pricing import Metered, hold_amount
from voxgate.catalog.schema import ModelRow
from voxgate.errors import GatewayError, InvalidRequestError
from voxgate.gateway.jobs import usage_body
from voxgate.gateway.realtime.caps import SessionCaps, check_minted, session_caps
from voxgate.gateway.realtime.failover import FailoverTerms
from voxgate.gateway.realtime.held import PCM16_BYTES_PER_SECOND
from voxgate.gateway.realtime.last_hop import last_hop
from voxgate.gateway.realtime.local import LocalWork, initial_config, serve_locally
from voxgate.gateway.realtime.relay import RealtimeRelay
from voxgate.gateway.realtime.session import run_session
from voxgate.gateway.realtime.session_gateway import SessionGateway
from voxgate.gateway.realtime.stage_report import access_fields, report_stages
from voxgate.gateway.realtime.transcription import serve_transcription
from voxgate.gateway.realtime.wire import ClientChannel
from voxgate.gateway.session_charge import SessionCharge
from voxgate.logs import ACCESS_LOGGER
from voxgate.metrics import Metrics
from voxgate.routing.planner import PlannedAttempt
from voxgate.settings import Settings
from voxgate.store.keys import Principal
from voxgate.store.realtime import MintedSecret, RealtimeSecrets
from voxgate.types import MicroUSD

SECRET_TASK = "realtime_secret"  # noqa: S105 - a task name
# What a session holds ahead of its next piece of work, beside what its work under way holds.
HOLD_STEP = MicroUSD(10_000)
# A minted secret stores its session: instructions, tools and settings, not a payload.
MAX_SECRET_SESSION_BYTES = 256 * 1024
NORMAL_CLOSE = 1000
access_logger = logging.getLogger(ACCESS_LOGGER)


# The client's channel once its socket is accepted; None for a client that never came (a call
# answered but never connected).
Accept = Callable[[], Awaitable[ClientChannel | None]]
# How the client is told that the gateway ended its session (an error event, a close code).
End = Callable[[ClientChannel, GatewayError], Awaitable[None]]


@dataclass(frozen=True)
class SessionEntry:
    """How a session came in, as its access line names it."""

    method: str
    path: str
    status: int


WEBSOCKET_ENTRY = SessionEntry("WEBSOCKET", "/v1/realtime", 101)
WEBRTC_ENTRY = SessionEntry("WEBRTC", "/v1/realtime/calls", 201)


@dataclass(frozen=True)
class SessionRequest:
    """A session a client asks for: who, on which model, with which settings (a minted
    secret's, a call's), and what it named when it connected."""

    principal: Principal
    row: ModelRow
    request_id: str
    session: dict[str, Any] = field(default_factory=dict)
    # A transcription session (asked for on the URL, or minted as one).
    transcription: bool = False
    # The URL's parameters (caps among them), and the model it named (or a call's session did).
    url: Mapping[str, str] = field(default_factory=dict)
    url_model: str | None = None
    entry: SessionEntry = WEBSOCKET_ENTRY


@dataclass(frozen=True)
class PlannedSession:
    """A session validated and planned, waiting to be admitted and held."""

    request: SessionRequest
    attempts: list[PlannedAttempt[Any]]
    caps: SessionCaps
    # Its access line times it from here, before it is admitted.
    started: float = field(default_factory=time.perf_counter)

    @property
    def first(self) -> PlannedAttempt[Any]:
        return self.attempts[0]

    @property
    def step(self) -> MicroUSD:
        """What the session holds ahead of its first piece of work."""
        return MicroUSD(max(HOLD_STEP, hold_amount(self.request.row.pricing, [])))


@dataclass(frozen=True)
class RealtimeSessions:
    """Sessions' own steps, for the gateway that owns them (`AudioGateway.open_session`)."""

    gateway: SessionGateway
    secrets: RealtimeSecrets
    settings: Settings
    metrics: Metrics

    def planned(self, request: SessionRequest) -> PlannedSession:
        """Its caps (its key's, lowered by its URL's; a bad one refused by name) and its
        routes: a transcription session on its row's transcription routes (where it runs is
        decided once it names its model), a cascade on its chat routes, any other on its
        realtime routes."""
        caps = session_caps(request.principal, request.url, self.settings.realtime_cap_policy)
        providers = self.gateway.providers
        row = request.row
        kind: Any = providers.chat if row.cascade else providers.realtime
        if request.transcription:
            kind = providers.transcription
        return PlannedSession(request, self.gateway.planner.plan(row, kind), caps)

    async def serve(
        self, planned: PlannedSession, charge: SessionCharge, accept: Accept, end: End
    ) -> None:
        """Accept the client's socket, then relay or serve the session until either side ends
        it (a GatewayError ends it through `end`); its Charge is closed either way."""
        try:
            channel = await accept()
        except BaseException:  # the client left during the handshake
            await asyncio.shield(charge.close_session(status="failed"))
            raise
        if channel is None:
            await charge.close_session(status="failed")
            return
        try:
            report_stages(
                channel.stages,
                self.metrics,
                self.gateway.tracer,
                planned.request.row.id,
                lambda: charge.served_by[0],
            )
            await run_session(
                channel,
                charge,
                self._body(planned, charge, channel),
                partial(self.secrets.key_is_live, planned.request.principal.key_id),
                self.settings.realtime_key_check_seconds,
                self.settings.realtime_max_session_seconds,
            )
        except GatewayError as exc:
            await end(channel, exc)
        finally:
            self._observe(planned, charge, channel)

    def _body(
        self, planned: PlannedSession, charge: SessionCharge, channel: ClientChannel
    ) -> Coroutine[Any, Any, None]:
        """Relayed to the row's realtime routes, or served here: a transcription session, or
        a cascade row's local conversation."""
        gateway, settings, request = self.gateway, self.settings, planned.request
        row, session = request.row, request.session
        buffer = min(settings.max_audio_seconds, settings.realtime_max_buffer_seconds)
        if request.transcription:
            return serve_transcription(
                channel, gateway, charge, session, request.url_model, max_buffer_seconds=buffer
            )
        if row.cascade is None:
            relay = RealtimeRelay(
                channel,
                charge,
                gateway.catalog,
                partial(gateway.attempts, row.id),
                planned.attempts,
                failover(settings),
                last_hop(gateway, row, charge, buffer),
                caps=planned.caps,
            )
            return relay.run(session)
        work = LocalWork(row, gateway.legs(row), planned.attempts, charge, gateway.attempts)
        return serve_locally(
            channel, work, row, session, max_buffer_seconds=buffer, caps=planned.caps
        )

    async def mint(
        self,
        principal: Principal,
        row: ModelRow,
        session: dict[str, Any],
        ttl_seconds: int,
        request_id: str,
    ) -> MintedSecret:
        """Mint a secret under the key's quota of live secrets, for a workspace that could pay
        the model's minimum hold; either way, a usage record."""
        charge = self.gateway.open_charge(principal, request_id)
        charge.identify(row, SECRET_TASK)
        try:
            if len(orjson.dumps(session)) > MAX_SECRET_SESSION_BYTES:
                raise InvalidRequestError(
                    f"A minted session may be at most {MAX_SECRET_SESSION_BYTES} bytes of JSON.",
                    param="session",
                    code="session_too_large",
                )
            check_minted(principal, session)
            if row.cascade is not None:
                initial_config(row, session)  # a session the cascade cannot take is refused now
            await self.gateway.require_minimum(principal, row)
            minted = await self.secrets.mint(
                principal,
                row.id,
                session,
                ttl_seconds,
                max_live=self.settings.realtime_max_live_secrets_per_key,
            )
        except GatewayError as exc:
            await charge.refuse(exc)
            raise
        except BaseException as exc:
            await charge.release(exc)
            raise
        await charge.settle_free()
        return minted

    def _observe(
        self,
        planned: PlannedSession,
        charge: SessionCharge,
        channel: ClientChannel,
    ) -> None:
        """One access line and the session metrics, as the session ends."""
        seconds = time.perf_counter() - planned.started
        stats = channel.stats
        close_code = stats.close_code or NORMAL_CLOSE
        self.metrics.observe_session(charge.trace.model, close_code, seconds)
        fields = {
            "request_id": charge.trace.request_id,
            "key": planned.request.principal.key_id,
            "method": planned.request.entry.method,
            "path": planned.request.entry.path,
            "status": planned.request.entry.status,
            "latency_ms": round(seconds * 1000, 1),
            "model": charge.trace.model,
            "route": charge.served_by[1],
            "cost_micro_usd": charge.charged,
            "responses": stats.responses,
            "audio_in_seconds": round(stats.audio_in_bytes / PCM16_BYTES_PER_SECOND, 3),
            "audio_out_seconds": round(stats.audio_out_bytes / PCM16_BYTES_PER_SECOND, 3),
            "close_code": close_code,
            **access_fields(channel.stages),
        }
        access_logger.info(
            " ".join(f"{name}={value}" for name, value in fields.items()), extra=fields
        )


def failover(settings: Settings) -> FailoverTerms:
    return FailoverTerms(
        enabled=settings.realtime_failover,
        stall_seconds=settings.realtime_failover_stall_seconds,
        recreate=settings.realtime_failover_responses == "recreate",
    )


def no_usage() -> dict[str, Any]:
    """The usage of minting a session: nothing is charged."""
    return usage_body(Metered(requests=0), MicroUSD(0))
