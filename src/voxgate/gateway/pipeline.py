"""The one request path: admit → validate → hold → attempts (one failover loop) → deliver →
settle, for unary answers (`run`), streamed ones (`stream`) and, through `admitted` and
`attempts`, realtime sessions."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, TypeVar

from voxgate.audio.pcm import PcmAudio
from voxgate.billing.holds import HoldBook
from voxgate.billing.keeper import HoldKeeper
from voxgate.billing.metering import TokenCounter
from voxgate.billing.pricing import Metered, cost, format_usd, hold_amount
from voxgate.billing.usage import Attempt, UsageRecord
from voxgate.catalog.loader import Catalog
from voxgate.catalog.schema import ModelRow
from voxgate.errors import (
    GatewayError,
    InsufficientCreditError,
    InvalidRequestError,
    RateLimitError,
)
from voxgate.gateway.cascade import CascadeJob, Legs
from voxgate.gateway.chat import ChatJob
from voxgate.gateway.failures import client_error, recorded_failure
from voxgate.gateway.inputs import (
    CHAT_SAMPLE_RATE,
    RECOGNIZER_SAMPLE_RATE,
    audio_bytes,
    decode_input,
)
from voxgate.gateway.jobs import DEFAULT_OPTIONS, Job, JobOptions, Outcome, usage_body
from voxgate.gateway.limits import Limits
from voxgate.gateway.speech import SpeechJob
from voxgate.gateway.streaming import Streamed, StreamingJob, opener
from voxgate.gateway.tasks import is_speech_to_text, looks_like_audio, resolve_task
from voxgate.gateway.transcription import TranscriptionJob
from voxgate.gateway.validation import UnifiedRequest, validate
from voxgate.logs import record_usage
from voxgate.metrics import Metrics
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.breaker import Breaker, calling_tenant
from voxgate.routing.failover import AttemptsFailed, RetryPolicy, Success, first_success
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.settings import Settings
from voxgate.store.keys import Principal
from voxgate.types import MicroUSD, Task

JobBuilder = Callable[[], Awaitable[tuple[ModelRow, Task, Job]]]
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
class Trace:
    """Who asked for what; grows into the usage record as the request moves on."""

    principal: Principal
    request_id: str
    started: float
    model: str = ""
    task: str = ""

    def record(self, **fields: Any) -> UsageRecord:
        return UsageRecord(
            request_id=self.request_id,
            workspace_id=self.principal.workspace_id,
            key_id=self.principal.key_id,
            model=self.model,
            task=self.task,
            latency_ms=round((time.perf_counter() - self.started) * 1000),
            **fields,
        )


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request that passed every check and holds its credit, ready to be called."""

    trace: Trace
    row: ModelRow
    task: Task
    job: Job
    attempts: list[PlannedAttempt[Any]]
    hold_id: str
    amount: MicroUSD


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
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._providers = providers
        self._planner = planner
        self._holds = holds
        self._tokens = tokens
        self._limits = limits
        self._breaker = breaker
        self._metrics = metrics
        self._retry = RetryPolicy(deadline_seconds=settings.request_deadline_seconds)
        self._hold_ttl = settings.hold_ttl_seconds
        self._keeper = HoldKeeper(holds, settings.hold_ttl_seconds)

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
            lambda: self._unified_job(body, options, principal),
            model=_named_model(body),
        )

    async def run(
        self, principal: Principal, request_id: str, build: JobBuilder, *, model: str = ""
    ) -> Completed:
        """Run the job `build` makes (validating as it builds) through hold, call and settle.

        `model` names the request on its usage record should it be refused before a row is found.
        """
        trace = Trace(principal, request_id, time.perf_counter(), model=model)
        async with self._admitted(trace):
            prepared = await self._prepare(trace, build)
            with self._keeper.kept(prepared.hold_id):
                served = await self._call(prepared, prepared.job.run)
                metered = served.result.metered
                charged = await self.settle(prepared, metered, served.attempt, served.log)
            return Completed(prepared.task, served.result, charged)

    async def stream(
        self, principal: Principal, request_id: str, build: JobBuilder, *, model: str = ""
    ) -> Streamed[Any]:
        """The same steps for an answer sent as it is made: admitted, validated, held, and
        failed over until the first chunk; `Streamed` delivers the rest and settles."""
        trace = Trace(principal, request_id, time.perf_counter(), model=model)
        stack = AsyncExitStack()
        await stack.enter_async_context(self._admitted(trace))
        try:
            prepared = await self._prepare(trace, build)
            job = prepared.job
            if not isinstance(job, StreamingJob):
                raise InvalidRequestError(
                    f"Model '{prepared.row.id}' cannot stream this task.",
                    param="model",
                    code="unsupported_model",
                )
            stack.enter_context(self._keeper.kept(prepared.hold_id))
            served = await self._call(prepared, opener(job))
        except BaseException:
            await stack.aclose()
            raise
        return Streamed(self, prepared, job, served, stack)

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
            lambda: self._unified_job(body, options, principal, streamed=True),
            model=_named_model(body),
        )

    @asynccontextmanager
    async def admitted(
        self, principal: Principal, request_id: str, model: str = "", task: str = ""
    ) -> AsyncIterator[None]:
        """Admission alone, for work that holds and settles by itself (a realtime session):
        the key's limits apply for as long as it runs; a refusal is recorded."""
        trace = Trace(principal, request_id, time.perf_counter(), model=model, task=task)
        async with self._admitted(trace):
            yield

    async def grow_hold(self, prepared: "Prepared", amount: MicroUSD) -> None:
        await self._holds.extend(prepared.hold_id, amount)

    async def aclose(self) -> None:
        await self._keeper.aclose()

    @property
    def planner(self) -> RoutePlanner:
        return self._planner

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def tokens(self) -> TokenCounter:
        return self._tokens

    @asynccontextmanager
    async def _admitted(self, trace: Trace) -> AsyncIterator[None]:
        calling_tenant.set(trace.principal.workspace_id)  # whose failures the breaker counts
        try:
            async with self._limits.admitted(trace.principal):
                yield
        except RateLimitError as exc:
            await self._holds.record(_failed(trace, exc, status="rejected"))
            raise

    async def _prepare(self, trace: Trace, build: JobBuilder) -> "Prepared":
        """Build (validating), plan and hold; a refusal here is recorded and costs nothing."""
        principal = trace.principal
        try:
            await self._tokens.ready()
            row, task, job = await build()
            trace = replace(trace, model=row.id, task=task)
            attempts = job.plan(self._planner)
            amount = hold_amount(row.pricing, job.worst_case())
            hold_id = await self._holds.place(
                workspace_id=principal.workspace_id,
                key_id=principal.key_id,
                request_id=trace.request_id,
                amount=amount,
                ttl_seconds=self._hold_ttl,
            )
        except GatewayError as exc:
            await self._holds.record(_failed(trace, exc, status="rejected"))
            raise
        return Prepared(trace, row, task, job, attempts, hold_id, amount)

    async def _unified_job(
        self, body: object, options: JobOptions, principal: Principal, *, streamed: bool = False
    ) -> tuple[ModelRow, Task, Job]:
        row, request = validate(body, self._catalog)
        task = resolve_task(row, request)
        return row, task, await self._job(row, task, request, options, principal, streamed)

    async def _job(
        self,
        row: ModelRow,
        task: Task,
        request: UnifiedRequest,
        options: JobOptions,
        principal: Principal,
        streamed: bool,
    ) -> Job:
        if row.cascade is not None:
            audio = (
                await self._audio_input(request, RECOGNIZER_SAMPLE_RATE, principal, row)
                if looks_like_audio(request.input)
                else None
            )
            return CascadeJob(row, request, audio, self.legs(row))
        if row.interface == "chat":
            audio = (
                await self._audio_input(request, CHAT_SAMPLE_RATE, principal, row)
                if is_speech_to_text(task)
                else None
            )
            voices = self._catalog.voices
            return ChatJob(
                row, request, task, audio, voices, self._providers, self._tokens, streamed=streamed
            )
        if task == "tts":
            return SpeechJob(row, request, self._catalog.voices, self._providers, self._tokens)
        if is_speech_to_text(task):
            audio = await self._audio_input(request, RECOGNIZER_SAMPLE_RATE, principal, row)
            return TranscriptionJob(
                row, request, audio, self._providers, task=task, options=options
            )
        # No provider in this build serves the task, so every route counts as unconfigured.
        raise self._planner.unavailable(row, providers={})

    async def credit_for_decoding(self, principal: Principal, row: ModelRow) -> None:
        """Decoding costs the gateway CPU and memory: a workspace that could not pay even the
        model's minimum hold is refused before its audio is opened."""
        needed = hold_amount(row.pricing, [])
        available = await self._holds.available(principal.workspace_id)
        if available < needed:
            raise InsufficientCreditError(
                f"Not enough credit: this request must hold at least ${format_usd(needed)} and "
                f"the workspace has ${format_usd(available)} available."
            )

    def legs(self, row: ModelRow) -> Legs:
        assert row.cascade is not None
        hear, speak = (
            self._catalog.get(row.cascade.transcription),
            self._catalog.get(row.cascade.speech),
        )
        assert hear is not None and speak is not None, "the catalog checks cascade legs at load"
        return Legs(
            hear,
            speak,
            self._planner,
            self._providers,
            self._catalog.voices,
            self._tokens,
            self._retry,
            self._breaker,
        )

    async def _audio_input(
        self, request: UnifiedRequest, sample_rate: int, principal: Principal, row: ModelRow
    ) -> PcmAudio:
        data = audio_bytes(request.input)
        await self.credit_for_decoding(principal, row)
        return await asyncio.to_thread(
            decode_input,
            data,
            sample_rate=sample_rate,
            max_seconds=self._settings.max_audio_seconds,
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
            success = await first_success(attempts, run, self._retry, self._breaker)
        except AttemptsFailed as failed:
            self._observe(model, failed.log)
            raise client_error(model, failed) from failed
        self._observe(model, success.log)
        return success

    async def _call(
        self,
        prepared: "Prepared",
        run: Callable[[PlannedAttempt[Any]], Awaitable[ResultT]],
    ) -> Success[ResultT]:
        """The attempts of a request that holds credit; a failure releases the hold."""
        try:
            return await self.attempts(prepared.row.id, prepared.attempts, run)
        except BaseException as exc:
            failed = exc.__cause__
            log = failed.log if isinstance(failed, AttemptsFailed) else ()
            await self.release(prepared, exc, log)
            raise

    def _observe(self, model: str, log: tuple[Attempt, ...]) -> None:
        tried = [(a.provider, a.status) for a in log if a.status != "skipped"]
        self._metrics.observe_attempts(model, tried)

    async def release(
        self, prepared: "Prepared", exc: BaseException, log: tuple[Attempt, ...]
    ) -> None:
        usage = _failed(prepared.trace, recorded_failure(exc), status="failed", attempts=log)
        usage = replace(usage, hold_micro_usd=prepared.amount)
        # Shielded: a client hanging up must not leave the hold behind.
        await asyncio.shield(self._holds.release(prepared.hold_id, usage))
        record_usage(model=prepared.row.id, route=None, cost_micro_usd=0)

    async def settle(
        self,
        prepared: "Prepared",
        metered: Metered,
        attempt: PlannedAttempt[Any],
        log: tuple[Attempt, ...],
        *,
        interrupted_by: BaseException | None = None,
    ) -> MicroUSD:
        """Charge what was delivered; a stream cut short (`interrupted_by`) records why."""
        price = cost(prepared.row.pricing, metered)
        failure = recorded_failure(interrupted_by) if interrupted_by is not None else None
        usage = prepared.trace.record(
            provider=attempt.route.provider,
            route=attempt.label,
            status="succeeded" if interrupted_by is None else "partial",
            http_status=200 if interrupted_by is None else _status_of(failure),
            error_code=None if interrupted_by is None else _code_of(failure),
            attempts=log,
            hold_micro_usd=prepared.amount,
            cost_micro_usd=price,
            **_metered_fields(metered),
        )
        charged = await asyncio.shield(self._holds.settle(prepared.hold_id, price, usage))
        self._metrics.observe_charge(prepared.row.id, charged)
        record_usage(model=prepared.row.id, route=attempt.label, cost_micro_usd=charged)
        return charged

    @property
    def breaker(self) -> Breaker:
        return self._breaker

    @property
    def providers(self) -> ProviderRegistry:
        return self._providers


def _named_model(body: object) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model[:200] if isinstance(model, str) else ""


def _metered_fields(metered: Metered) -> dict[str, int]:
    return {
        "input_text_tokens": metered.text_input_tokens,
        "output_text_tokens": metered.text_output_tokens,
        "input_audio_tokens": metered.audio_input_tokens,
        "output_audio_tokens": metered.audio_output_tokens,
        "input_characters": metered.characters,
        "audio_milliseconds": metered.audio_milliseconds,
    }


def _status_of(failure: GatewayError | None) -> int:
    return failure.status_code if failure else 500


def _code_of(failure: GatewayError | None) -> str | None:
    return failure.code if failure else "internal_error"


def _failed(
    trace: Trace, exc: GatewayError | None, *, status: str, attempts: tuple[Attempt, ...] = ()
) -> UsageRecord:
    return trace.record(
        status=status,
        http_status=_status_of(exc),
        error_code=_code_of(exc),
        attempts=attempts,
    )
