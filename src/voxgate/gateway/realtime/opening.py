"""A realtime session on the gateway's path: admitted under the key's limits, planned, held,
then relayed to its realtime routes or served here (the local cascade). Its money is its
`SessionCharge`, opened as every request's Charge is, each piece drawn from it. The WebSocket handler
keeps only who connects, accepting and closing; a refusal comes out of `opened` before the
socket is accepted, so the handshake itself can answer it.

Minting a client secret lives here too: it is refused for a workspace that could not pay the
model's minimum hold, and its stored session is bounded in size; its usage record is its
Charge's, as every request's is.
"""

import logging
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from voxgate.billing.pricing import Metered, hold_amount
from voxgate.catalog.schema import ModelRow
from voxgate.errors import GatewayError, InsufficientCreditError, InvalidRequestError
from voxgate.gateway.jobs import usage_body
from voxgate.gateway.pipeline import AudioGateway
from voxgate.gateway.realtime.caps import SessionCaps, check_minted
from voxgate.gateway.realtime.failover import FailoverTerms
from voxgate.gateway.realtime.held import PCM16_BYTES_PER_SECOND
from voxgate.gateway.realtime.last_hop import last_hop
from voxgate.gateway.realtime.local import LocalWork, initial_config, serve_locally
from voxgate.gateway.realtime.relay import RealtimeRelay
from voxgate.gateway.realtime.session import run_session
from voxgate.gateway.realtime.stage_report import access_fields, report_stages
from voxgate.gateway.realtime.transcription import serve_transcription
from voxgate.gateway.realtime.wire import ClientChannel, SessionStats
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


@dataclass(frozen=True)
class OpenSession:
    """A session admitted and held, waiting for its socket to be accepted."""

    sessions: "RealtimeSessions"
    row: ModelRow
    principal: Principal
    attempts: list[PlannedAttempt[Any]]
    charge: SessionCharge
    # A transcription session, and the transcription model its URL named (if any).
    transcription: bool = False
    url_model: str | None = None
    # The socket it was served on, once accepted (its stats make the access line).
    channels: list[ClientChannel] = field(default_factory=list)
    caps: SessionCaps = field(default_factory=SessionCaps)

    async def serve(self, channel: ClientChannel, session: dict[str, Any]) -> None:
        """Relay or serve the session until either side ends it; its Charge is closed."""
        sessions = self.sessions
        self.channels.append(channel)
        charge, tracer = self.charge, sessions.gateway.tracer
        report_stages(
            channel.stages, sessions.metrics, tracer, self.row.id, lambda: charge.served_by[0]
        )
        await run_session(
            channel,
            self.charge,
            self._body(channel, session),
            partial(sessions.secrets.key_is_live, self.principal.key_id),
            sessions.settings.realtime_key_check_seconds,
            sessions.settings.realtime_max_session_seconds,
        )

    def _body(self, channel: ClientChannel, session: dict[str, Any]) -> Coroutine[Any, Any, None]:
        gateway, row, settings = self.sessions.gateway, self.row, self.sessions.settings
        buffer = min(settings.max_audio_seconds, settings.realtime_max_buffer_seconds)
        if self.transcription:
            return serve_transcription(
                channel, gateway, self.charge, session, self.url_model, max_buffer_seconds=buffer
            )
        if row.cascade is None:
            connect = partial(gateway.attempts, row.id)
            hop = last_hop(gateway, row, self.charge, buffer)
            relay = RealtimeRelay(
                channel,
                self.charge,
                gateway.catalog,
                connect,
                self.attempts,
                failover(settings),
                hop,
                caps=self.caps,
            )
            return relay.run(session)
        work = LocalWork(row, gateway.legs(row), self.attempts, self.charge, gateway.attempts)
        return serve_locally(channel, work, row, session, max_buffer_seconds=buffer, caps=self.caps)


@dataclass(frozen=True)
class RealtimeSessions:
    gateway: AudioGateway
    secrets: RealtimeSecrets
    settings: Settings
    metrics: Metrics

    @asynccontextmanager
    async def opened(
        self,
        principal: Principal,
        row: ModelRow,
        request_id: str,
        *,
        transcription: bool = False,
        url_model: str | None = None,
        caps: SessionCaps | None = None,
    ) -> AsyncIterator[OpenSession]:
        """Admit (rpm counts opens, concurrency open sessions, for as long as it runs), plan
        and hold the first step; a GatewayError before the session is yielded changed nothing
        and is recorded. A transcription session is planned on its row's transcription routes
        (where it runs is decided once it names its model)."""
        gateway = self.gateway
        providers: Any = gateway.providers.chat if row.cascade else gateway.providers.realtime
        if transcription:
            providers = gateway.providers.transcription
        attempts = gateway.planner.plan(row, providers)
        first = attempts[0]
        charge = gateway.open_session_charge(principal, request_id)
        charge.identify(row, "realtime")
        started = time.perf_counter()
        async with gateway.admitted(charge):
            try:
                await charge.open_session(self._step(row), first.route.provider, first.label)
            except InsufficientCreditError as exc:  # refused before it held anything
                await charge.refuse(exc)
                raise
            opened = OpenSession(
                self,
                row,
                principal,
                attempts,
                charge,
                transcription,
                url_model,
                caps=caps or SessionCaps(),
            )
            try:
                yield opened
            finally:
                if opened.channels:
                    self._observe(opened, opened.channels[0].stats, started)

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

    def _observe(self, opened: OpenSession, stats: SessionStats, started: float) -> None:
        """One access line and the session metrics, as the session ends."""
        seconds = time.perf_counter() - started
        close_code = stats.close_code or NORMAL_CLOSE
        charge = opened.charge
        self.metrics.observe_session(charge.trace.model, close_code, seconds)
        fields = {
            "request_id": charge.trace.request_id,
            "key": opened.principal.key_id,
            "method": "WEBSOCKET",
            "path": "/v1/realtime",
            "status": 101,
            "latency_ms": round(seconds * 1000, 1),
            "model": charge.trace.model,
            "route": charge.served_by[1],
            "cost_micro_usd": charge.charged,
            "responses": stats.responses,
            "audio_in_seconds": round(stats.audio_in_bytes / PCM16_BYTES_PER_SECOND, 3),
            "audio_out_seconds": round(stats.audio_out_bytes / PCM16_BYTES_PER_SECOND, 3),
            "close_code": close_code,
            **access_fields(opened.channels[0].stages),
        }
        access_logger.info(
            " ".join(f"{name}={value}" for name, value in fields.items()), extra=fields
        )

    @staticmethod
    def _step(row: ModelRow) -> MicroUSD:
        return MicroUSD(max(HOLD_STEP, hold_amount(row.pricing, [])))


def failover(settings: Settings) -> FailoverTerms:
    return FailoverTerms(
        enabled=settings.realtime_failover,
        stall_seconds=settings.realtime_failover_stall_seconds,
        recreate=settings.realtime_failover_responses == "recreate",
    )


def no_usage() -> dict[str, Any]:
    """The usage of minting a session: nothing is charged."""
    return usage_body(Metered(requests=0), MicroUSD(0))
