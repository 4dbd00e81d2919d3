"""A request's money, in one object from its first hold to its settlement.

The gateway opens one `Charge` per request of every kind. It holds credit (before any costly
work, such as decoding the client's audio), grows the hold as a stream goes on, keeps it alive
through the process's one keeper, then settles what was delivered, releases a failed call or
records a refusal. A realtime session's Charge holds a step ahead of its work and draws each
piece (a response, a transcription, a spoken reply) from the hold as it is done, each with a
`SessionLine` and a usage record of its own, then settles the session's record at its close.
It is the only place that builds a usage record.

A hold is a hard cap: the jobs cap what they ask of a provider by what is held, settlement
never charges past the hold, and a stream delivers a chunk only once the hold covers it. So
`charged == cost <= held` holds by construction; a provider that ignores the cap is cut at it
and the record says `provider_overrun`.
"""

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from opentelemetry.trace import Tracer

from voxgate.billing.holds import HoldBook
from voxgate.billing.keeper import HoldKeeper
from voxgate.billing.pricing import (
    RECORDED_QUANTITIES,
    Metered,
    affordable_output,
    cost,
    hold_amount,
    with_output,
)
from voxgate.billing.usage import Attempt, SessionLine, UsageRecord, UsageStatus
from voxgate.catalog.schema import ModelRow, Pricing, Route
from voxgate.errors import GatewayError, InsufficientCreditError
from voxgate.gateway.failures import recorded_failure
from voxgate.gateway.jobs import Delivery
from voxgate.gateway.realtime.work import SessionOver
from voxgate.logs import record_usage
from voxgate.metrics import Metrics
from voxgate.money import format_usd
from voxgate.store.keys import Principal
from voxgate.tracing import usage_attributes
from voxgate.types import MicroUSD

# The route an answer from the speech cache names on its usage record.
CACHE_ROUTE = "cache"
# The catalog's price card for what a route's provider bills (its `billed_as` row, else the row).
ProviderPricing = Callable[[ModelRow, Route], Pricing]
# The HTTP status a realtime session's records carry: its socket was switched to (101).
SESSION_HTTP_STATUS = 101


@dataclass(frozen=True, slots=True)
class Trace:
    """Who asked for what; grows into the usage record as the request moves on."""

    principal: Principal
    request_id: str
    started: float
    model: str = ""
    task: str = ""


class Charges:
    """Opens each request's Charge; one per gateway, sharing the hold book and its keeper."""

    def __init__(
        self,
        holds: HoldBook,
        hold_ttl_seconds: int,
        metrics: Metrics,
        tracer: Tracer,
        provider_pricing: ProviderPricing,
    ) -> None:
        self.holds = holds
        self.ttl = hold_ttl_seconds
        self.keeper = HoldKeeper(holds, hold_ttl_seconds)
        self.metrics = metrics
        self.tracer = tracer
        self.provider_pricing = provider_pricing

    def open(self, principal: Principal, request_id: str, model: str = "") -> "Charge":
        trace = Trace(principal, request_id, time.perf_counter(), model=model)
        return Charge(self, trace)

    async def available(self, workspace_id: str) -> MicroUSD:
        return await self.holds.available(workspace_id)

    async def aclose(self) -> None:
        await self.keeper.aclose()


@dataclass(slots=True)
class _Session:
    """What a session's Charge knows beside its hold: the step it keeps ahead, what work under
    way has reserved of the hold, where it is served and the pieces drawn so far."""

    step: MicroUSD
    provider: str
    route: str
    # The row that prices the session's pieces when it is not the Charge's (its last hop's).
    priced_by: ModelRow | None = None
    reserved: int = 0
    charged: int = 0
    lines: list[SessionLine] = field(default_factory=list)


class Charge:
    """One request's money: hold, grow, keep, settle, release or refuse, each once; a session's
    pieces drawn from its hold in between."""

    def __init__(self, charges: Charges, trace: Trace) -> None:
        self._charges = charges
        self._holds = charges.holds
        self.trace = trace
        self.row: ModelRow | None = None
        self._hold_id: str | None = None
        # What the hold holds now (a session's draws take from it).
        self.held = MicroUSD(0)
        self._kept = False
        self._session: _Session | None = None
        # One session piece at a time changes the hold.
        self._drawing = asyncio.Lock()

    def identify(self, row: ModelRow, task: str = "") -> None:
        """The model (and task) the request turned out to be for, named on its record."""
        self.row = row
        self.trace = replace(self.trace, model=row.id, task=task or self.trace.task)

    async def cover(self, amount: MicroUSD) -> None:
        """Hold `amount` in all (placing the hold, or growing it), or raise
        InsufficientCreditError having changed nothing."""
        if amount <= self.held:
            return
        if self._hold_id is not None:
            try:
                await self.grow(MicroUSD(amount - self.held))
            except InsufficientCreditError as exc:
                raise await self._short_of(amount, exc) from exc
            return
        with self._charges.tracer.start_as_current_span(
            "hold", attributes={"voxgate.hold_micro_usd": amount}
        ):
            self._hold_id = await self._place(amount)
        self.held = amount

    async def _place(self, amount: MicroUSD) -> str:
        return await self._holds.place(
            workspace_id=self.trace.principal.workspace_id,
            key_id=self.trace.principal.key_id,
            request_id=self.trace.request_id,
            amount=amount,
            ttl_seconds=self._charges.ttl,
        )

    async def _short_of(
        self, amount: MicroUSD, exc: InsufficientCreditError
    ) -> InsufficientCreditError:
        """The refusal of a hold grown to `amount`, naming the whole amount as a first hold's
        refusal does (not the step it took to grow)."""
        if exc.code != "insufficient_credit":  # a key limit or a budget says its own
            return exc
        available = await self._holds.available(self.trace.principal.workspace_id)
        return InsufficientCreditError(
            f"Not enough credit: this request must hold ${format_usd(amount)} and the "
            f"workspace has ${format_usd(MicroUSD(available + self.held))} available."
        )

    async def cover_decoding(self, row: ModelRow) -> None:
        """Decoding costs the gateway CPU and memory: the model's minimum hold is really held
        before the client's audio is opened, so a workspace can decode only what it could pay
        for, however many requests it sends at once."""
        self.identify(row)
        await self.cover(hold_amount(row.pricing, []))

    async def grow(self, step: MicroUSD) -> None:
        """Hold `step` more; InsufficientCreditError when the workspace or key cannot."""
        assert self._hold_id is not None, "a hold is placed before it grows"
        with self._charges.tracer.start_as_current_span(
            "hold more", attributes={"voxgate.hold_micro_usd": step}
        ):
            await self._holds.extend(self._hold_id, step)
        self.held = MicroUSD(self.held + step)

    async def hold_ahead(self, ahead: MicroUSD, due: MicroUSD) -> None:
        """Grow the hold to `ahead` (a step past what is due) when the credit allows, else to
        just `due`; InsufficientCreditError, having changed nothing, when not even `due` can be
        held. A stream keeps ahead of its delivery this way, a session of its work."""
        refused: InsufficientCreditError | None = None
        for wanted in (ahead, due):
            if wanted <= self.held:
                return
            try:
                await self.grow(MicroUSD(wanted - self.held))
            except InsufficientCreditError as exc:
                refused = exc
                continue
            return
        assert refused is not None
        raise refused

    @contextmanager
    def kept(self) -> Iterator[None]:
        """The hold stays open (its expiry moved on by the keeper) while the block runs."""
        assert self._hold_id is not None, "a hold is placed before it is kept"
        keeper = self._charges.keeper
        keeper.keep(self._hold_id)
        self._kept = True
        try:
            yield
        finally:
            self._kept = False
            keeper.let_go(self._hold_id)

    def cost(self, metered: Metered) -> MicroUSD:
        """What `metered` costs at the requested model's prices."""
        assert self.row is not None
        return cost(self.row.pricing, metered)

    async def settle(
        self, delivery: Delivery, *, interrupted_by: BaseException | None = None
    ) -> MicroUSD:
        """Charge what was delivered, never past the hold; a stream cut short
        (`interrupted_by`) is `partial` and records why."""
        assert self.row is not None and self._hold_id is not None
        failure = recorded_failure(interrupted_by) if interrupted_by is not None else None
        route = delivery.attempt.route
        usage = self._record(
            provider=route.provider,
            route=delivery.attempt.label,
            status="succeeded" if interrupted_by is None else "partial",
            http_status=200 if interrupted_by is None else _status_of(failure),
            error_code=None if interrupted_by is None else _code_of(failure),
            attempts=delivery.log,
            hold_micro_usd=self.held,
            provider_cost_micro_usd=cost(
                self._charges.provider_pricing(self.row, route),
                delivery.overrun or delivery.metered,
            ),
            estimated=delivery.estimated,
            usage_mismatch=delivery.usage_mismatch,
            provider_overrun=delivery.overrun is not None,
            **metered_fields(delivery.metered),
        )
        price = self.cost(delivery.metered)
        with self._charges.tracer.start_as_current_span(
            "settle", attributes=usage_attributes(usage)
        ) as span:
            charged = await asyncio.shield(self._holds.settle(self._hold_id, price, usage))
            span.set_attribute("voxgate.charged_micro_usd", charged)
        metrics = self._charges.metrics
        metrics.observe_charge(self.row.id, charged)
        metrics.observe_flags(
            self.row.id,
            overrun=delivery.overrun is not None or price > self.held,
            estimated=delivery.estimated,
            mismatch=delivery.usage_mismatch,
        )
        record_usage(model=self.row.id, route=delivery.attempt.label, cost_micro_usd=charged)
        return charged

    async def settle_free(self, http_status: int = 200) -> None:
        """Record a request that succeeded at no cost and held nothing (minting a secret)."""
        await self._close_without_charge(self._record(status="succeeded", http_status=http_status))

    async def settle_cached(
        self, metered: Metered, price: MicroUSD, *, interrupted_by: BaseException | None = None
    ) -> MicroUSD:
        """Charge an answer served from the speech cache at the cache's `price` (held before
        it was served): no provider was called, so nothing is the provider's cost, and the
        record says `cached`."""
        assert self.row is not None and self._hold_id is not None
        failure = recorded_failure(interrupted_by) if interrupted_by is not None else None
        usage = self._record(
            route=CACHE_ROUTE,
            status="succeeded" if interrupted_by is None else "partial",
            http_status=200 if interrupted_by is None else _status_of(failure),
            error_code=None if interrupted_by is None else _code_of(failure),
            hold_micro_usd=self.held,
            cached=True,
            **metered_fields(metered),
        )
        attributes: dict[str, str | bool] = {
            "gen_ai.request.model": self.row.id,
            "voxgate.cached": True,
        }
        with self._charges.tracer.start_as_current_span("settle", attributes=attributes) as span:
            charged = await asyncio.shield(self._holds.settle(self._hold_id, price, usage))
            span.set_attribute("voxgate.charged_micro_usd", charged)
        self._charges.metrics.observe_charge(self.row.id, charged)
        record_usage(model=self.row.id, route=CACHE_ROUTE, cost_micro_usd=charged)
        return charged

    async def release(self, exc: BaseException, log: tuple[Attempt, ...] = ()) -> None:
        """Give the whole hold back (no attempt delivered anything) and record why."""
        usage = self._failed(recorded_failure(exc), status="failed", attempts=log)
        await self._close_without_charge(usage)

    async def refuse(self, exc: GatewayError) -> None:
        """Record a request refused before any call (a limit, bad input, no credit); a hold
        placed before the refusal (to decode the request's audio) goes back whole."""
        await self._close_without_charge(self._failed(exc, status="rejected"))

    async def _close_without_charge(self, usage: UsageRecord) -> None:
        attributes = {"voxgate.status": usage.status, "voxgate.error": usage.error_code or ""}
        with self._charges.tracer.start_as_current_span("release", attributes=attributes):
            # Shielded: a client hanging up must not leave the hold behind.
            if self._hold_id is None:
                await asyncio.shield(self._holds.record(usage))
            else:
                usage = replace(usage, hold_micro_usd=self.held)
                await asyncio.shield(self._holds.release(self._hold_id, usage))
        record_usage(model=self.trace.model, route=None, cost_micro_usd=0)

    # A realtime session: open_session, then reserve / draw each piece, then close_session.

    async def open_session(self, step: MicroUSD, provider: str, route: str) -> None:
        """Hold a session's first step, served (so far) by `route`; InsufficientCreditError,
        having held nothing, when the workspace or key cannot."""
        assert self.row is not None, "a session's model is known before it holds"
        self._hold_id = await self._place(step)
        self.held = step
        self._session = _Session(step, provider, route)

    @property
    def served_by(self) -> tuple[str, str]:
        """The provider and route serving the session now."""
        return self._serving().provider, self._serving().route

    @property
    def charged(self) -> int:
        """What the session's pieces have been charged so far."""
        return self._serving().charged

    @property
    def reserved(self) -> int:
        """What the session's pieces under way have reserved of the hold."""
        return self._serving().reserved

    @property
    def session_pricing(self) -> Pricing:
        """The prices the session's pieces are charged at now (its last hop's, once moved)."""
        return self._priced_by(None).pricing

    async def spend_room(self) -> tuple[MicroUSD, str] | None:
        """What the session may still spend by its key's and workspace's spend limits as they
        are now, and the code naming the tightest (None: no limit binds)."""
        assert self._hold_id is not None
        principal = self.trace.principal
        return await self._holds.spend_room(
            self._hold_id, principal.workspace_id, principal.key_id, self._unreserved()
        )

    async def drawable(self) -> MicroUSD:
        """The credit the session can still draw: the workspace's free credit and what its
        hold holds beyond the work under way."""
        available = await self._holds.available(self.trace.principal.workspace_id)
        return MicroUSD(available + self._unreserved())

    def _unreserved(self) -> MicroUSD:
        return MicroUSD(max(0, self.held - self._serving().reserved))

    def serving(self, provider: str, route: str, row: ModelRow | None = None) -> None:
        """The route that took the session, once its upstream answered (and the row that
        prices it from then on, when the session moved to its last hop)."""
        session = self._serving()
        session.provider, session.route = provider, route
        session.priced_by = row or session.priced_by

    async def reserve(self, worst: MicroUSD) -> None:
        """Hold `worst` for a piece about to run, beside what other pieces have reserved;
        InsufficientCreditError, having changed nothing, when the credit cannot cover it."""
        session = self._serving()
        async with self._drawing:
            try:
                await self._grow_to(MicroUSD(session.reserved + worst))
            except InsufficientCreditError:
                if await self._hold_is_open():
                    raise
                await self._hold_again()  # reaped under a stalled session
                await self._grow_to(MicroUSD(session.reserved + worst))
            session.reserved += worst

    async def _grow_to(self, amount: MicroUSD) -> None:
        if amount > self.held:
            await self.grow(MicroUSD(amount - self.held))

    async def reserve_response(
        self, given: Metered, wanted_output_tokens: int, row: ModelRow | None = None
    ) -> tuple[int, MicroUSD]:
        """Hold a response's worst case: its input (`given`, as the gateway counts it) and as
        many output tokens, up to `wanted_output_tokens`, as the credit covers at the dearest
        output price. Returns the output cap and what was reserved; InsufficientCreditError
        when not even one output token can be held."""
        session = self._serving()
        pricing = self._priced_by(row).pricing
        spare = self.held - session.reserved
        spare += await self._holds.available(self.trace.principal.workspace_id)
        tokens = affordable_output(pricing, given, wanted_output_tokens, spare)
        if tokens < 1:
            raise InsufficientCreditError(
                "Not enough credit for this response: its input and one output token cost "
                "more than the workspace has available."
            )
        while True:  # the key's spend limit may allow less than the workspace's credit
            worst = cost(pricing, with_output(pricing, given, tokens))
            try:
                await self.reserve(worst)
            except InsufficientCreditError:
                if tokens == 1:
                    raise
                tokens //= 2
                continue
            return tokens, worst

    async def unreserve(self, reserved: MicroUSD) -> None:
        """Free what a piece reserved and did not use (it failed before the route billed it);
        the hold keeps it, as the step ahead of the next piece."""
        session = self._serving()
        async with self._drawing:
            session.reserved = max(0, session.reserved - reserved)

    async def draw(
        self,
        metered: Metered,
        piece: str,
        row: ModelRow | None = None,
        *,
        reserved: int = 0,
        status: UsageStatus = "succeeded",
        overrun: Metered | None = None,
        attempts: tuple[Attempt, ...] = (),
    ) -> MicroUSD:
        """Charge one piece of a session now (at `row`'s prices, the session's by default)
        from the hold, never past it, freeing what it `reserved`, then hold the next step;
        returns what was charged. Its usage record is `<request_id>.N`, with one line naming
        the piece. `overrun` is what the provider made past the cap it was given (`metered`
        is what was delivered): the record is flagged and keeps the provider's cost. `attempts`
        is the failover loop's log of the piece's routes, kept on its record.
        SessionOver when the next step cannot be held (the piece is charged all the same)."""
        assert self._hold_id is not None
        session = self._serving()
        priced_by = self._priced_by(row)
        amount = cost(priced_by.pricing, metered)
        async with self._drawing:
            line = SessionLine(
                piece=piece,
                request_id=f"{self.trace.request_id}.{len(session.lines) + 1}",
                provider=session.provider,
                route=session.route,
                status=status,
            )
            usage = self._record(
                request_id=line.request_id,
                model=priced_by.id,
                status=status,
                http_status=SESSION_HTTP_STATUS,
                provider=session.provider,
                route=session.route,
                lines=(line,),
                provider_overrun=overrun is not None,
                provider_cost_micro_usd=cost(priced_by.pricing, overrun or metered),
                attempts=attempts,
                **metered_fields(metered),
            )
            charged = await self._holds.draw(self._hold_id, amount, usage)
            session.charged += charged
            self._charges.metrics.observe_charge(priced_by.id, charged)
            session.lines.append(line)
            self.held = MicroUSD(max(0, self.held - amount))
            session.reserved = max(0, session.reserved - reserved)
            await self._keep_session_ahead(session)
        return charged

    async def _keep_session_ahead(self, session: _Session) -> None:
        """Hold a step beside what pieces under way have reserved; when the credit cannot, the
        step may cover that work too; else the session is over."""
        step = session.step
        try:
            await self.hold_ahead(
                MicroUSD(session.reserved + step), MicroUSD(max(session.reserved, step))
            )
        except InsufficientCreditError as exc:
            if await self._hold_is_open():
                raise _out_of_credit(exc) from exc
            await self._hold_again()

    async def _hold_is_open(self) -> bool:
        assert self._hold_id is not None
        return await self._holds.keep_alive(self._hold_id, self._charges.ttl)

    async def _hold_again(self) -> None:
        """The hold was closed under a live session (the process stalled past the hold's
        lifetime and the reaper released it): hold a fresh step, or end the session."""
        session = self._serving()
        closed = self._hold_id
        try:
            self._hold_id = await self._place(session.step)
        except InsufficientCreditError as exc:
            raise _out_of_credit(exc) from exc
        self.held = session.step
        if self._kept and closed is not None:
            self._charges.keeper.let_go(closed)
            self._charges.keeper.keep(self._hold_id)

    async def close_session(self, status: UsageStatus = "succeeded") -> None:
        """Release what is held ahead; the session's own record lists each piece drawn (each
        priced on its own record), and is charged nothing more."""
        assert self._hold_id is not None
        session = self._serving()
        record = self._record(
            status=status,
            http_status=SESSION_HTTP_STATUS,
            provider=session.provider,
            route=session.route,
            lines=tuple(session.lines),
        )
        await self._holds.settle(self._hold_id, MicroUSD(0), record)

    def _serving(self) -> _Session:
        assert self._session is not None, "a session's Charge is opened with open_session"
        return self._session

    def _priced_by(self, row: ModelRow | None) -> ModelRow:
        priced_by = row or self._serving().priced_by or self.row
        assert priced_by is not None
        return priced_by

    def _failed(
        self, exc: GatewayError | None, *, status: UsageStatus, attempts: tuple[Attempt, ...] = ()
    ) -> UsageRecord:
        return self._record(
            status=status,
            http_status=_status_of(exc),
            error_code=_code_of(exc),
            attempts=attempts,
        )

    def _record(self, **fields: Any) -> UsageRecord:
        trace = self.trace
        named: dict[str, Any] = {
            "request_id": trace.request_id,
            "workspace_id": trace.principal.workspace_id,
            "key_id": trace.principal.key_id,
            "model": trace.model,
            "task": trace.task,
            "latency_ms": round((time.perf_counter() - trace.started) * 1000),
        }
        return UsageRecord(**(named | fields))


def _out_of_credit(exc: InsufficientCreditError) -> SessionOver:
    return SessionOver(
        f"{exc.message} The realtime session is closed.", code=exc.code or "insufficient_credit"
    )


def metered_fields(metered: Metered) -> dict[str, int]:
    return {name: getattr(metered, name) for name in RECORDED_QUANTITIES}


def _status_of(failure: GatewayError | None) -> int:
    return failure.status_code if failure else 500


def _code_of(failure: GatewayError | None) -> str | None:
    return failure.code if failure else "internal_error"
