"""A realtime session's money: a `Charge` that holds a step ahead of the session's work and
draws each piece (a response, a transcription, a spoken reply) from its hold as it is done, each
with a `SessionLine` and a usage record of its own, then settles the session's record at its
close. The records are built by `Charge` (gateway/charge.py), as every request's are; this
module says which pieces they name.
"""

import asyncio
from dataclasses import dataclass, field

from voxgate.billing.pricing import Metered, affordable_output, cost, with_output
from voxgate.billing.usage import Attempt, SessionLine, UsageStatus
from voxgate.catalog.schema import ModelRow, Pricing
from voxgate.errors import InsufficientCreditError
from voxgate.gateway.charge import Charge, Charges, Trace, metered_fields
from voxgate.gateway.realtime.work import SessionOver
from voxgate.types import MicroUSD

# The HTTP status a realtime session's records carry: its socket was switched to (101).
SESSION_HTTP_STATUS = 101


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


class SessionCharge(Charge):
    """A realtime session's Charge: open_session, then reserve / draw each piece, then
    close_session."""

    def __init__(self, charges: Charges, trace: Trace) -> None:
        super().__init__(charges, trace)
        self._session: _Session | None = None
        # One session piece at a time changes the hold.
        self._drawing = asyncio.Lock()

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


def _out_of_credit(exc: InsufficientCreditError) -> SessionOver:
    return SessionOver(
        f"{exc.message} The realtime session is closed.", code=exc.code or "insufficient_credit"
    )
