"""The one request path: admit → validate → charge → attempts (one failover loop) → deliver →
settle, for unary answers (`run`), streamed ones (`stream`) and realtime sessions
(`open_session`). A request's money lives in its `Charge`."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from opentelemetry.trace import SpanKind, Tracer

from voxgate.audio.encode import warm_encoders
from voxgate.billing.holds import HoldBook
from voxgate.billing.metering import TokenCounter
from voxgate.billing.pricing import Metered, cost, hold_amount
from voxgate.billing.usage import Attempt
from voxgate.catalog.loader import Catalog
from voxgate.catalog.schema import ModelRow, Pricing, Route
from voxgate.errors import (
    GatewayError,
    InsufficientCreditError,
    InvalidRequestError,
    RateLimitError,
    ServiceUnavailableError,
)
from voxgate.gateway.cascade_legs import Legs
from voxgate.gateway.charge import Charge, Charges
from voxgate.gateway.failures import client_error
from voxgate.gateway.jobs import DEFAULT_OPTIONS, Delivery, Job, JobOptions, Outcome, usage_body
from voxgate.gateway.limits import Limits
from voxgate.gateway.realtime.opening import Accept, End, RealtimeSessions, SessionRequest
from voxgate.gateway.session_charge import SessionCharge
from voxgate.gateway.speech_cache import CachedSpeech, CachedStream, SpeechAnswer, SpeechCache
from voxgate.gateway.streaming import Streamed, StreamingJob, opener
from voxgate.gateway.unified_jobs import UnifiedJobs
from voxgate.metrics import Metrics
from voxgate.money import format_usd
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.breaker import Breaker, calling_tenant
from voxgate.routing.failover import AttemptsFailed, RetryPolicy, Success, first_success
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.settings import Settings
from voxgate.store.keys import Principal
from voxgate.store.realtime import MintedSecret, RealtimeSecrets
from voxgate.tracing import genai_system
from voxgate.types import MicroUSD, Task

JobBuilder = Callable[[Charge], Awaitable[tuple[ModelRow, Task, Job]]]
ResultT = TypeVar("ResultT")

RESPONSE_OBJECTS: Mapping[Task, str] = MappingProxyType(
    {
        "tts": "audio.speech",
        "audio_chat": "audio.chat",
        "realtime": "realtime.session",
        "transcription": "audio.transcription",
        "translation": "audio.translation",
    }
)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request that passed every check and holds its credit, ready to be called."""

    charge: Charge
    row: ModelRow
    task: Task
    job: Job
    attempts: list[PlannedAttempt[Any]]
    # A speech answer the workspace's cache holds: served without attempts.
    cached: CachedSpeech | None = None


@dataclass(frozen=True, slots=True)
class Completed:
    task: Task
    outcome: Outcome
    charged: MicroUSD

    @property
    def usage(self) -> dict[str, Any]:
        return usage_body(self.outcome.metered, self.charged)

    def unified(self) -> dict[str, Any]:
        """The answer of POST /api/v1/audio."""
        return {
            "object": RESPONSE_OBJECTS[self.task],
            "data": self.outcome.data,
            "usage": self.usage,
        }


class AudioGateway:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        providers: ProviderRegistry,
        planner: RoutePlanner,
        holds: HoldBook,
        tokens: TokenCounter,
        limits: Limits,
        breaker: Breaker,
        metrics: Metrics,
        tracer: Tracer,
        secrets: RealtimeSecrets,
    ) -> None:
        self._catalog = catalog
        self._providers = providers
        self._planner = planner
        self._holds = holds
        self._tokens = tokens
        self._limits = limits
        self._breaker = breaker
        self._metrics = metrics
        self._tracer = tracer
        self._retry = RetryPolicy(deadline_seconds=settings.request_deadline_seconds)
        self._charges = Charges(
            holds, settings.hold_ttl_seconds, metrics, tracer, self._provider_pricing
        )
        self._speech_cache = SpeechCache(settings)
        self._jobs = UnifiedJobs(
            settings, catalog, providers, planner, tokens, tracer, self.attempts
        )
        self._sessions = RealtimeSessions(self, secrets, settings, metrics)

    async def handle(
        self,
        principal: Principal,
        body: object,
        request_id: str,
        options: JobOptions = DEFAULT_OPTIONS,
    ) -> Completed:
        """Run one unified request through every step; the caller renders the answer."""
        return await self.run(
            principal,
            request_id,
            lambda charge: self._jobs.build(body, options, charge),
            model=_named_model(body),
        )

    async def run(
        self, principal: Principal, request_id: str, build: JobBuilder, *, model: str = ""
    ) -> Completed:
        """Run the job `build` makes (validating as it builds) through hold, call and settle.

        `model` names the request on its usage record should it be refused before a row is found.
        """
        charge = self._charges.open(principal, request_id, model)
        async with self._admitted(charge):
            prepared = await self._prepare(charge, build, from_cache=True)
            if prepared.cached is not None:
                hit = prepared.cached
                charged = await charge.settle_cached(hit.metered, hit.price)
                return Completed(prepared.task, hit.outcome(), charged)
            with charge.kept():
                served = await self._call(prepared, prepared.job.run)
                outcome = served.result
                charged = await charge.settle(
                    Delivery(
                        outcome.metered,
                        served.attempt,
                        served.log,
                        estimated=outcome.estimated,
                        usage_mismatch=outcome.usage_mismatch,
                        overrun=outcome.overrun,
                    )
                )
            await self._speech_cache.keep(principal, prepared.job, outcome)
            return Completed(prepared.task, outcome, charged)

    async def stream(
        self, principal: Principal, request_id: str, build: JobBuilder, *, model: str = ""
    ) -> Streamed[Any]:
        """The same steps for an answer sent as it is made: admitted, validated, held, and
        failed over until the first chunk; `Streamed` delivers the rest and settles."""
        charge = self._charges.open(principal, request_id, model)
        stack = AsyncExitStack()
        await stack.enter_async_context(self._admitted(charge))
        try:
            return await self._streamed(await self._prepare(charge, build), stack)
        except BaseException:
            await stack.aclose()
            raise

    async def stream_speech(
        self, principal: Principal, body: object, request_id: str
    ) -> SpeechAnswer:
        """A unified speech request's answer, streamed: from the workspace's speech cache when
        it holds the answer, else as `stream`, kept in the cache once delivered whole."""
        charge = self._charges.open(principal, request_id, _named_model(body))
        stack = AsyncExitStack()
        await stack.enter_async_context(self._admitted(charge))
        try:
            prepared = await self._prepare(
                charge,
                lambda charge: self._jobs.build(body, DEFAULT_OPTIONS, charge, streamed=True),
                from_cache=True,
            )
            if prepared.cached is not None:
                stack.enter_context(charge.kept())
                return CachedStream(charge, prepared.cached, stack)
            return await self._streamed(prepared, stack)
        except BaseException:
            await stack.aclose()
            raise

    async def _streamed(self, prepared: Prepared, stack: AsyncExitStack) -> Streamed[Any]:
        job, charge = prepared.job, prepared.charge
        if not isinstance(job, StreamingJob):
            raise InvalidRequestError(
                f"Model '{prepared.row.id}' cannot stream this task.",
                param="model",
                code="unsupported_model",
            )
        stack.enter_context(charge.kept())
        served = await self._call(prepared, opener(job.stream))
        served = self._speech_cache.teed(charge.trace.principal, job, served)
        return Streamed(charge, job, served, stack)

    async def stream_unified(
        self,
        principal: Principal,
        body: object,
        request_id: str,
        options: JobOptions = DEFAULT_OPTIONS,
    ) -> Streamed[Any]:
        """A unified request's answer, streamed."""
        return await self.stream(
            principal,
            request_id,
            lambda charge: self._jobs.build(body, options, charge, streamed=True),
            model=_named_model(body),
        )

    def open_charge(self, principal: Principal, request_id: str, model: str = "") -> Charge:
        """The Charge of work that holds and settles by itself (a minted secret), kept alive
        by the same keeper as every request's."""
        return self._charges.open(principal, request_id, model)

    def open_session_charge(self, principal: Principal, request_id: str) -> SessionCharge:
        """A realtime session's Charge, which draws each piece as it is done."""
        return SessionCharge(self._charges, self._charges.trace(principal, request_id))

    async def open_session(self, request: SessionRequest, accept: Accept, end: End) -> None:
        """A realtime session, from handshake to close: validated and planned (its caps, its
        routes), admitted under the key's limits for as long as it runs (rpm counts opens,
        concurrency open sessions), its first step held; then `accept` gives the client's
        channel and the session is relayed to its realtime routes or served here until either
        side ends it (the gateway ending it through `end`). A GatewayError raised from here
        was raised before `accept` was called and changed nothing (a refusal past admission
        is recorded), so the handshake can answer it."""
        planned = self._sessions.planned(request)
        charge = self.open_session_charge(request.principal, request.request_id)
        charge.identify(request.row, "realtime")
        async with self._admitted(charge):
            first = planned.first
            try:
                await charge.open_session(planned.step, first.route.provider, first.label)
            except InsufficientCreditError as exc:  # refused before it held anything
                await charge.refuse(exc)
                raise
            await self._sessions.serve(planned, charge, accept, end)

    async def mint_secret(
        self,
        principal: Principal,
        row: ModelRow,
        session: dict[str, Any],
        ttl_seconds: int,
        request_id: str,
    ) -> MintedSecret:
        """A client secret (`ek_…`) for a later session on `row`, refused for a workspace that
        could not pay the model's minimum hold; either way, a usage record."""
        return await self._sessions.mint(principal, row, session, ttl_seconds, request_id)

    async def warm_up(self) -> None:
        """Build what the first request of each kind would: the tokenizer (most of a second)
        and the audio encoders, before the gateway answers anything."""
        await self._tokens.ready()
        await asyncio.to_thread(warm_encoders)

    async def aclose(self) -> None:
        await self._charges.aclose()

    @property
    def planner(self) -> RoutePlanner:
        return self._planner

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def tokens(self) -> TokenCounter:
        return self._tokens

    @property
    def tracer(self) -> Tracer:
        return self._tracer

    @asynccontextmanager
    async def _admitted(self, charge: Charge) -> AsyncIterator[None]:
        # Whose failures the breaker counts.
        calling_tenant.set(charge.trace.principal.workspace_id)
        try:
            async with self._limits.admitted(charge.trace.principal):
                yield
        except RateLimitError as exc:
            await charge.refuse(exc)
            raise

    async def _prepare(
        self, charge: Charge, build: JobBuilder, *, from_cache: bool = False
    ) -> Prepared:
        """Build (validating), plan and hold; a refusal here is recorded and costs nothing.
        `from_cache`: a speech answer the workspace's cache holds is held at its price instead,
        to be served from there."""
        try:
            await self._tokens.ready()
            row, task, job = await build(charge)
            charge.identify(row, task)
            hit = await self._speech_cache.find(charge.trace.principal, job) if from_cache else None
            if hit is not None:
                await charge.cover(MicroUSD(max(hit.price, hold_amount(row.pricing, []))))
                return Prepared(charge, row, task, job, [], hit)
            worst = job.worst_case()
            attempts = self._affordable(row, job.plan(self._planner), worst)
            await charge.cover(hold_amount(row.pricing, worst))
        except GatewayError as exc:
            await charge.refuse(exc)
            raise
        except BaseException as exc:
            # A client gone while its audio was decoded (or a fault): the hold placed for the
            # decoding goes back now, not when the reaper finds it.
            await charge.release(exc)
            raise
        return Prepared(charge, row, task, job, attempts)

    def _affordable(
        self, row: ModelRow, attempts: list[PlannedAttempt[Any]], worst: list[Metered]
    ) -> list[PlannedAttempt[Any]]:
        """The attempts whose provider may cost what their route allows (`max_cost_ratio`)
        for this request's worst case, next to what the client pays for it."""
        charged = max((cost(row.pricing, metered) for metered in worst), default=0)
        kept = [
            attempt
            for attempt in attempts
            if attempt.route.max_cost_ratio is None
            or max((cost(self._provider_pricing(row, attempt.route), m) for m in worst), default=0)
            <= attempt.route.max_cost_ratio * charged
        ]
        if not kept:
            raise ServiceUnavailableError(
                f"Every route of model '{row.id}' would cost its provider more than its "
                "max_cost_ratio allows for this request.",
                code="no_affordable_route",
                headers={"x-should-retry": "false"},
            )
        return kept

    def _provider_pricing(self, row: ModelRow, route: Route) -> Pricing:
        billed_as = self._catalog.get(route.billed_as) if route.billed_as else None
        return (billed_as or row).pricing

    def legs(self, row: ModelRow, charge: Charge | None = None) -> Legs:
        """A cascade row's legs, served through this gateway's planner and failover loop; a
        request's legs put their attempts on its `charge`'s usage record."""
        return self._jobs.legs(row, charge)

    async def require_minimum(self, principal: Principal, row: ModelRow) -> None:
        """Refuse (402) a workspace that could not pay even the model's minimum hold, before
        work that holds nothing yet (minting a realtime secret)."""
        needed = hold_amount(row.pricing, [])
        available = await self._charges.available(principal.workspace_id)
        if available < needed:
            raise InsufficientCreditError(
                f"Not enough credit: this model needs at least ${format_usd(needed)} held and "
                f"the workspace has ${format_usd(available)} available."
            )

    async def attempts(
        self,
        model: str,
        attempts: list[PlannedAttempt[Any]],
        run: Callable[[PlannedAttempt[Any]], Awaitable[ResultT]],
    ) -> Success[ResultT]:
        """The one failover loop (breaker, backoff, Retry-After, deadline), for every kind of
        request; when no attempt succeeds, the client's error, caused by the attempts' log."""
        try:
            success = await first_success(attempts, self._traced(run), self._retry, self._breaker)
        except AttemptsFailed as failed:
            self._observe(model, failed.log)
            raise client_error(model, failed) from failed
        self._observe(model, success.log)
        return success

    async def _call(
        self,
        prepared: Prepared,
        run: Callable[[PlannedAttempt[Any]], Awaitable[ResultT]],
    ) -> Success[ResultT]:
        """The attempts of a request that holds credit; a failure releases the hold."""
        try:
            return await self.attempts(prepared.row.id, prepared.attempts, run)
        except BaseException as exc:
            failed = exc.__cause__
            log = failed.log if isinstance(failed, AttemptsFailed) else ()
            await prepared.charge.release(exc, log)
            raise

    def _traced(
        self, run: Callable[[PlannedAttempt[Any]], Awaitable[ResultT]]
    ) -> Callable[[PlannedAttempt[Any]], Awaitable[ResultT]]:
        """Each attempt a client span of its own (its failure recorded on it)."""

        async def attempt(planned: PlannedAttempt[Any]) -> ResultT:
            attributes = {
                "gen_ai.system": genai_system(planned.route.provider),
                "gen_ai.request.model": planned.route.upstream_model,
                "voxgate.route": planned.label,
            }
            with self._tracer.start_as_current_span(
                f"upstream {planned.route.provider}", kind=SpanKind.CLIENT, attributes=attributes
            ):
                return await run(planned)

        return attempt

    def _observe(self, model: str, log: tuple[Attempt, ...]) -> None:
        tried = [(a.provider, a.status) for a in log if a.status != "skipped"]
        self._metrics.observe_attempts(model, tried)

    @property
    def breaker(self) -> Breaker:
        return self._breaker

    @property
    def providers(self) -> ProviderRegistry:
        return self._providers


def _named_model(body: object) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model[:200] if isinstance(model, str) else ""
