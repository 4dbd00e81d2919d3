"""A request's money, in one object from its first hold to its settlement.

The gateway opens one `Charge` per request of every kind. It holds credit (before any costly
work, such as decoding the client's audio), grows the hold as a stream goes on, keeps it alive
through the process's one keeper, then settles what was delivered, releases a failed call or
records a refusal. A realtime session's Charge (`SessionCharge`, gateway/session_charge.py)
draws each piece of the session from its hold in between. `Charge` is the only place that
builds a usage record; a session's names the piece it is for.

A hold is a hard cap: the jobs cap what they ask of a provider by what is held, settlement
never charges past the hold, and a stream delivers a chunk only once the hold covers it. So
`charged == cost <= held` holds by construction; a provider that ignores the cap is cut at it
and the record says `provider_overrun`.
"""

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from opentelemetry.trace import Tracer

from voxgate.billing.holds import HoldBook
from voxgate.billing.keeper import HoldKeeper
from voxgate.billing.pricing import (
    RECORDED_QUANTITIES,
    Metered,
    cost,
    hold_amount,
)
from voxgate.billing.usage import Attempt, UsageRecord, UsageStatus
from voxgate.catalog.schema import ModelRow, Pricing, Route
from voxgate.errors import GatewayError, InsufficientCreditError
from voxgate.gateway.failures import recorded_failure
from voxgate.gateway.jobs import Delivery
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
        return Charge(self, self.trace(principal, request_id, model))

    def trace(self, principal: Principal, request_id: str, model: str = "") -> Trace:
        """A new request's Trace, its clock started now."""
        return Trace(principal, request_id, time.perf_counter(), model=model)

    async def available(self, workspace_id: str) -> MicroUSD:
        return await self.holds.available(workspace_id)

    async def aclose(self) -> None:
        await self.keeper.aclose()


class Charge:
    """One request's money: hold, grow, keep, settle, release or refuse, each once."""

    def __init__(self, charges: Charges, trace: Trace) -> None:
        self._charges = charges
        self._holds = charges.holds
        self.trace = trace
        self.row: ModelRow | None = None
        self._hold_id: str | None = None
        # What the hold holds now (a session's draws take from it).
        self.held = MicroUSD(0)
        self._kept = False
        # Each log of the loops run inside the request's own attempts (a cascade's legs).
        self._leg_logs: list[tuple[Attempt, ...]] = []

    def identify(self, row: ModelRow, task: str = "") -> None:
        """The model (and task) the request turned out to be for, named on its record."""
        self.row = row
        self.trace = replace(self.trace, model=row.id, task=task or self.trace.task)

    def note_attempts(self, log: tuple[Attempt, ...]) -> None:
        """A leg's attempts (a cascade hearing or speaking), for the request's usage record."""
        self._leg_logs.append(log)

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
        attempts: tuple[Attempt, ...] = fields.get("attempts", ())
        # A leg that failed every route ended the request: `release` is given that same log.
        legs = [entry for log in self._leg_logs if log is not attempts for entry in log]
        if legs:
            fields["attempts"] = (*attempts, *legs)
        return UsageRecord(**(named | fields))


def metered_fields(metered: Metered) -> dict[str, int]:
    return {name: getattr(metered, name) for name in RECORDED_QUANTITIES}


def _status_of(failure: GatewayError | None) -> int:
    return failure.status_code if failure else 500


def _code_of(failure: GatewayError | None) -> str | None:
    return failure.code if failure else "internal_error"
