"""A session's money as it goes: each piece of work is held before it runs (`reserve`, or
`reserve_response` for a response whose output is capped to what the credit covers), charged
when done (a ledger entry and a usage record of its own) from what it held, and the hold keeps
one step ahead beside what is reserved. A heartbeat keeps the hold's lifetime moving with the
session, so the reaper frees only the hold of a dead one.

After a crash, what was drawn stays charged; the reaper releases the undrawn rest.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from voxgate.billing.holds import HoldBook
from voxgate.billing.pricing import Metered, cost
from voxgate.billing.usage import Attempt, UsageRecord
from voxgate.catalog.schema import ModelRow, Pricing
from voxgate.errors import InsufficientCreditError
from voxgate.gateway.realtime.work import SessionOver
from voxgate.store.keys import Principal
from voxgate.types import MicroUSD


@dataclass(frozen=True)
class BillTerms:
    step: MicroUSD
    hold_ttl_seconds: int
    max_session_seconds: float


@dataclass
class SessionBill:
    holds: HoldBook
    row: ModelRow
    principal: Principal
    request_id: str
    terms: BillTerms
    provider: str
    route: str
    # Where charges are counted as spend (the gateway's metrics); nowhere in unit tests.
    observe_charge: Callable[[str, int], None] = field(default=lambda model, micro_usd: None)
    # The row that prices the session's work when it is not `row`'s (its last hop's).
    priced_by: ModelRow | None = None
    hold_id: str = ""
    # What the hold still holds, and how much of it is promised to work under way.
    remaining: int = 0
    reserved: int = 0
    drawn: int = 0
    # What the session has been charged so far, in micro-USD.
    charged: int = 0
    lines: list[Attempt] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _charging: asyncio.Lock = field(default_factory=asyncio.Lock)

    def serving(self, provider: str, route: str, row: ModelRow | None = None) -> None:
        """The route that took the session, once its upstream answered (and the row that
        prices it from then on, when the session moved to its last hop)."""
        self.provider, self.route = provider, route
        self.priced_by = row or self.priced_by

    async def open(self) -> None:
        """Hold the first step; InsufficientCreditError when the workspace or key can't."""
        self.hold_id = await self.holds.place(
            workspace_id=self.principal.workspace_id,
            key_id=self.principal.key_id,
            request_id=self.request_id,
            amount=self.terms.step,
            ttl_seconds=self.terms.hold_ttl_seconds,
        )
        self.remaining = self.terms.step

    async def reserve(self, worst: MicroUSD) -> None:
        """Hold `worst` for work about to run, beside what other work has reserved; raises
        InsufficientCreditError having changed nothing when the credit cannot cover it."""
        async with self._charging:
            top_up = MicroUSD(self.reserved + worst - self.remaining)
            if top_up > 0:
                await self.holds.extend(self.hold_id, top_up)
                self.remaining += top_up
            self.reserved += worst

    async def reserve_response(
        self, given: Metered, wanted_output_tokens: int, row: ModelRow | None = None
    ) -> tuple[int, MicroUSD]:
        """Hold a response's worst case: its input (`given`, as the gateway counts it) and as
        many output tokens, up to `wanted_output_tokens`, as the credit covers at the dearest
        output price. Returns the output cap and what was reserved; InsufficientCreditError
        when not even one output token can be held."""
        pricing = (row or self.priced_by or self.row).pricing
        text, audio = _dearest(pricing)
        per_token = _output_price(pricing)
        spare = self.remaining - self.reserved
        spare += await self.holds.available(self.principal.workspace_id)
        tokens = wanted_output_tokens
        if per_token > 0:
            tokens = min(tokens, int((spare - cost(pricing, given)) / per_token))

        def worst_case(output_tokens: int) -> MicroUSD:
            output = {"text_output_tokens": output_tokens * text}
            output["audio_output_tokens"] = output_tokens * audio
            return cost(pricing, replace(given, **output))

        while tokens > 1 and worst_case(tokens) > spare:  # the total is rounded once, up
            tokens -= 1
        if tokens < 1 or worst_case(tokens) > spare:
            raise InsufficientCreditError(
                "Not enough credit for this response: its input and one output token cost "
                "more than the workspace has available."
            )
        while True:  # the key's spend limit may allow less than the workspace's credit
            worst = worst_case(tokens)
            try:
                await self.reserve(worst)
            except InsufficientCreditError:
                if tokens == 1:
                    raise
                tokens //= 2
                continue
            return tokens, worst

    async def release(self, reserved: MicroUSD) -> None:
        """Free what work reserved and did not use (it failed before the route billed it);
        the hold keeps it, as the step ahead of the next piece."""
        async with self._charging:
            self.reserved = max(0, self.reserved - reserved)

    async def charge(
        self,
        metered: Metered,
        what: str,
        row: ModelRow | None = None,
        *,
        reserved: int = 0,
        status: str = "succeeded",
        overrun: Metered | None = None,
    ) -> MicroUSD:
        """Charge one piece of work now (at `row`'s prices, the session model's by default)
        from the hold, never past it, freeing what it `reserved`, then hold the next step;
        returns what was charged. `overrun` is what the provider made past the cap it was
        given (`metered` is what was delivered): the record is flagged and keeps its cost.
        SessionOver when the next step cannot be held (the work done is charged all the same)."""
        priced_by = row or self.priced_by or self.row
        amount = cost(priced_by.pricing, metered)
        async with self._charging:
            self.drawn += 1
            line = Attempt(self.route, self.provider, what, 0)
            usage = replace(
                self._record(f"{self.request_id}.{self.drawn}", metered, (line,), priced_by.id),
                status=status,
                provider_overrun=overrun is not None,
                provider_cost_micro_usd=cost(priced_by.pricing, overrun or metered),
            )
            charged = await self.holds.draw(self.hold_id, amount, usage)
            self.charged += charged
            self.observe_charge(priced_by.id, charged)
            self.lines.append(line)
            self.remaining = max(0, self.remaining - amount)
            self.reserved = max(0, self.reserved - reserved)
            await self._hold_ahead()
        return charged

    async def _hold_ahead(self) -> None:
        """Hold a step beside what work under way has reserved; when the credit cannot, the
        step may cover that work too; else the session is over."""
        step = self.terms.step
        for wanted in (self.reserved + step, max(self.reserved, step)):
            top_up = MicroUSD(wanted - self.remaining)
            if top_up <= 0:
                return
            try:
                await self.holds.extend(self.hold_id, top_up)
            except InsufficientCreditError as exc:
                refused = exc
                continue
            self.remaining += top_up
            return
        if await self.holds.keep_alive(self.hold_id, self.terms.hold_ttl_seconds):
            raise _out_of_credit(refused)
        await self._hold_again()

    async def _hold_again(self) -> None:
        """The hold was closed under a live session (the process stalled past the hold's
        lifetime and the reaper released it): hold a fresh step, or end the session."""
        try:
            await self.open()
        except InsufficientCreditError as exc:
            raise _out_of_credit(exc) from exc

    async def heartbeat(self) -> None:
        """Keep the hold alive while the session lives (holding afresh should the reaper have
        closed it); raises SessionOver when the session reaches its length cap or its credit
        runs out."""
        interval = max(0.2, self.terms.hold_ttl_seconds / 3)
        deadline = self.started + self.terms.max_session_seconds
        while True:
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                raise SessionOver(
                    f"The session reached its {self.terms.max_session_seconds:g} s limit.",
                    code="session_expired",
                    kind="invalid_request_error",
                )
            if not await self.holds.keep_alive(self.hold_id, self.terms.hold_ttl_seconds):
                async with self._charging:
                    await self._hold_again()

    async def close(self, status: str = "succeeded") -> None:
        """Release what is held ahead; the session's own record lists each charge."""
        record = replace(
            self._record(self.request_id, Metered(requests=0), tuple(self.lines)), status=status
        )
        await self.holds.settle(self.hold_id, MicroUSD(0), record)

    def _record(
        self,
        request_id: str,
        metered: Metered,
        attempts: tuple[Attempt, ...],
        model: str | None = None,
    ) -> UsageRecord:
        return UsageRecord(
            request_id=request_id,
            workspace_id=self.principal.workspace_id,
            key_id=self.principal.key_id,
            model=model or self.row.id,
            task="realtime",
            status="succeeded",
            http_status=101,
            latency_ms=round((time.monotonic() - self.started) * 1000),
            provider=self.provider,
            route=self.route,
            input_text_tokens=metered.text_input_tokens,
            output_text_tokens=metered.text_output_tokens,
            input_audio_tokens=metered.audio_input_tokens,
            output_audio_tokens=metered.audio_output_tokens,
            input_characters=metered.characters,
            audio_milliseconds=metered.audio_milliseconds,
            attempts=attempts,
        )


def _output_price(pricing: Pricing) -> Decimal:
    """The dearest output token's price in micro-USD (audio falls back to the text rate)."""
    text = pricing.text_output_per_1m_tokens or Decimal(0)
    return max(text, pricing.audio_output_per_1m_tokens or text)


def _dearest(pricing: Pricing) -> tuple[int, int]:
    """Which output kind (text, audio) costs the most per token, as a one-hot pair."""
    text = pricing.text_output_per_1m_tokens or Decimal(0)
    return (1, 0) if text >= _output_price(pricing) else (0, 1)


def _out_of_credit(exc: InsufficientCreditError) -> SessionOver:
    return SessionOver(
        f"{exc.message} The realtime session is closed.", code=exc.code or "insufficient_credit"
    )
