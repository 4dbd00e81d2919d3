"""Credit held before a call, then settled to the exact cost or released, exactly once."""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from voxgate.billing import budgets
from voxgate.billing import statements as sql
from voxgate.billing.usage import UsageRecord
from voxgate.errors import InsufficientCreditError
from voxgate.money import format_usd
from voxgate.store.budgets import UTC_CLOCK, BudgetClock
from voxgate.store.database import Database
from voxgate.store.sql import Tx
from voxgate.store.tables import utcnow
from voxgate.store.webhooks import BALANCE_LOW, CHARGE_FLAGGED, raise_alert
from voxgate.types import MicroUSD


class HoldBook(Protocol):
    """Where the gateway holds and settles credit: the database, or nowhere (billing off)."""

    async def place(
        self, *, workspace_id: str, key_id: str, request_id: str, amount: MicroUSD, ttl_seconds: int
    ) -> str: ...

    async def extend(self, hold_id: str, amount: MicroUSD) -> None: ...

    async def keep_alive(self, hold_id: str, ttl_seconds: int) -> bool: ...

    async def keep_all_alive(self, hold_ids: Sequence[str], ttl_seconds: int) -> None: ...

    async def draw(self, hold_id: str, cost: MicroUSD, usage: UsageRecord) -> MicroUSD: ...

    async def settle(self, hold_id: str, cost: MicroUSD, usage: UsageRecord) -> MicroUSD: ...

    async def release(self, hold_id: str, usage: UsageRecord) -> None: ...

    async def record(self, usage: UsageRecord) -> None: ...

    async def available(self, workspace_id: str) -> MicroUSD: ...

    async def spend_room(
        self, hold_id: str, workspace_id: str, key_id: str, own: MicroUSD
    ) -> tuple[MicroUSD, str] | None: ...

    async def reap_expired(self, now: datetime | None = None) -> int: ...

    async def open_count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _Claimed:
    workspace_id: str
    key_id: str
    amount: MicroUSD


class Holds:
    def __init__(self, database: Database, clock: BudgetClock = UTC_CLOCK) -> None:
        self._database = database
        self._clock = clock

    async def place(
        self,
        *,
        workspace_id: str,
        key_id: str,
        request_id: str,
        amount: MicroUSD,
        ttl_seconds: int,
    ) -> str:
        """Hold `amount`, or raise InsufficientCreditError having changed nothing."""
        hold_id = f"hold_{secrets.token_hex(12)}"
        now = utcnow()

        async def work(tx: Tx) -> None:
            await _hold(tx, workspace_id, key_id, amount, "this request must hold")
            await budgets.count_request(
                tx,
                self._clock,
                hold_id=hold_id,
                workspace_id=workspace_id,
                key_id=key_id,
                amount=amount,
                now=now,
            )
            await tx.execute(
                sql.INSERT_HOLD,
                hold_id=hold_id,
                workspace_id=workspace_id,
                key_id=key_id,
                request_id=request_id,
                amount=amount,
                now=now,
                expires_at=now + timedelta(seconds=ttl_seconds),
            )

        await self._database.write(work)
        return hold_id

    async def extend(self, hold_id: str, amount: MicroUSD) -> None:
        """Hold `amount` more on an open hold (a session or stream that keeps going), or raise
        InsufficientCreditError having changed nothing."""

        async def work(tx: Tx) -> None:
            hold = await tx.fetch_one(sql.OPEN_HOLD, hold_id=hold_id)
            if hold is None:
                raise InsufficientCreditError("The request's hold is closed.")
            await _hold(tx, hold[0], hold[1], amount, "the request must hold to go on")
            await budgets.hold_more(tx, self._clock, hold_id, amount)
            if await tx.execute(sql.GROW_HOLD, hold_id=hold_id, amount=amount) != 1:
                raise InsufficientCreditError("The request's hold is closed.")

        await self._database.write(work)

    async def keep_alive(self, hold_id: str, ttl_seconds: int) -> bool:
        """Move an open hold's expiry to `ttl_seconds` from now, so that no reaper frees the
        hold of a request that still runs; False when the hold is no longer open."""
        expires_at = utcnow() + timedelta(seconds=ttl_seconds)

        async def work(tx: Tx) -> bool:
            return await tx.execute(sql.KEEP_HOLD, hold_id=hold_id, expires_at=expires_at) == 1

        return await self._database.write(work)

    async def keep_all_alive(self, hold_ids: Sequence[str], ttl_seconds: int) -> None:
        """`keep_alive` for many holds in one transaction (one commit, however many)."""
        expires_at = utcnow() + timedelta(seconds=ttl_seconds)

        async def work(tx: Tx) -> None:
            for hold_id in hold_ids:
                await tx.execute(sql.KEEP_HOLD, hold_id=hold_id, expires_at=expires_at)

        await self._database.write(work)

    async def draw(self, hold_id: str, cost: MicroUSD, usage: UsageRecord) -> MicroUSD:
        """Charge `cost` now (one piece of a session) and keep the hold open for the rest.

        Never more than the hold has left: a cost past it is charged what is left and the record
        flagged `provider_overrun`. A hold the reaper released under a stalled session still
        pays its pieces from free credit, up to what it held; a settled one pays nothing. The
        usage record (with a request id of its own) carries what was charged.
        """

        async def work(tx: Tx) -> MicroUSD:
            now = utcnow()
            hold = await tx.fetch_one(sql.OPEN_HOLD, hold_id=hold_id)
            if hold is None:
                return await _draw_expired(tx, hold_id, cost, usage, now)
            held = MicroUSD(int(hold[2]))
            charged = MicroUSD(min(cost, held))
            await tx.execute(sql.DRAW_HOLD, hold_id=hold_id, amount=charged)
            await _unhold(tx, _Claimed(hold[0], hold[1], charged), charged)
            await _spent(tx, hold_id, released=charged, charged=charged, usage=usage)
            await _record_charge(tx, usage, now, cost, charged, held)
            return charged

        return await self._database.write(work)

    async def settle(self, hold_id: str, cost: MicroUSD, usage: UsageRecord) -> MicroUSD:
        """Close the hold, charge `cost` and write the usage record, atomically.

        A hold is a hard cap: never more than it holds is charged, so the workspace is never
        charged past what it set aside and the gateway never takes the difference from
        elsewhere. A cost past the hold (a provider that ignored the request's cap) is charged
        the hold, and the record says `provider_overrun`. A hold the reaper released while its
        request still ran is charged once all the same, up to what it held and what the
        workspace still has free. Returns what was charged; a hold already settled or released
        is not charged again (0).
        """

        async def work(tx: Tx) -> MicroUSD:
            now = utcnow()
            claimed = await _claim(tx, hold_id, "settled", now)
            if claimed is not None:
                charged = MicroUSD(min(cost, claimed.amount))
                await _unhold(tx, claimed, charged)
                await _spent(tx, hold_id, released=claimed.amount, charged=charged, usage=usage)
                await _record_charge(tx, usage, now, cost, charged, claimed.amount)
                return charged
            expired = await _claim_expired(tx, hold_id, now)
            if expired is None:
                return MicroUSD(0)
            billed = MicroUSD(min(cost, expired.amount))
            charged = await _charge_free(tx, expired, billed)
            await _spent(tx, hold_id, released=MicroUSD(0), charged=charged, usage=usage)
            await _record_charge(tx, usage, now, cost, charged, expired.amount, billed=billed)
            return charged

        return await self._database.write(work)

    async def release(self, hold_id: str, usage: UsageRecord) -> None:
        """Give the whole hold back (the call failed) and write the usage record."""

        async def work(tx: Tx) -> None:
            now = utcnow()
            claimed = await _claim(tx, hold_id, "released", now)
            if claimed is None:
                return
            await _unhold(tx, claimed, MicroUSD(0))
            await budgets.spend(
                tx, hold_id, released=claimed.amount, charged=MicroUSD(0), audio_milliseconds=0
            )
            await _insert_usage(
                tx, usage, now, cost=MicroUSD(0), charged=MicroUSD(0), held=claimed.amount
            )

        await self._database.write(work)

    async def record(self, usage: UsageRecord) -> None:
        """The usage record of a request that never held credit (refused before the call)."""

        async def work(tx: Tx) -> None:
            await _insert_usage(tx, usage, utcnow())

        await self._database.write(work)

    async def available(self, workspace_id: str) -> MicroUSD:
        """The workspace's credit that no hold covers."""

        async def work(tx: Tx) -> MicroUSD:
            row = await tx.fetch_one(sql.AVAILABLE, workspace_id=workspace_id)
            return MicroUSD(int(row[0])) if row else MicroUSD(0)

        return await self._database.read(work)

    async def spend_room(
        self, hold_id: str, workspace_id: str, key_id: str, own: MicroUSD
    ) -> tuple[MicroUSD, str] | None:
        """What a request under way (its hold still holding `own` for no work) may spend by
        its key's and workspace's spend limits now, and the code naming the tightest."""
        now = utcnow()

        async def work(tx: Tx) -> tuple[MicroUSD, str] | None:
            return await budgets.spend_room(
                tx,
                self._clock,
                hold_id=hold_id,
                workspace_id=workspace_id,
                key_id=key_id,
                own=own,
                now=now,
            )

        return await self._database.read(work)

    async def open_count(self) -> int:
        async def work(tx: Tx) -> int:
            row = await tx.fetch_one(sql.OPEN_COUNT)
            return int(row[0]) if row else 0

        return await self._database.read(work)

    async def reap_expired(self, now: datetime | None = None) -> int:
        """Release holds whose requests died; each claimed once even with many reapers."""
        cutoff = now or utcnow()

        async def expired(tx: Tx) -> list[str]:
            return [row[0] for row in await tx.fetch_all(sql.EXPIRED_HOLDS, cutoff=cutoff)]

        released = 0
        for hold_id in await self._database.read(expired):
            released += await self._database.write(partial(_expire, hold_id=hold_id))
        return released


async def _expire(tx: Tx, *, hold_id: str) -> bool:
    claimed = await _claim(tx, hold_id, "expired", utcnow())
    if claimed is not None:
        await _unhold(tx, claimed, MicroUSD(0))
        await budgets.spend(
            tx, hold_id, released=claimed.amount, charged=MicroUSD(0), audio_milliseconds=0
        )
    return claimed is not None


async def _hold(tx: Tx, workspace_id: str, key_id: str, amount: MicroUSD, purpose: str) -> None:
    # One conditional statement each: the check and the hold cannot be raced apart.
    if await tx.execute(sql.HOLD_ON_WALLET, workspace_id=workspace_id, amount=amount) != 1:
        row = await tx.fetch_one(sql.AVAILABLE, workspace_id=workspace_id)
        available = MicroUSD(row[0]) if row else MicroUSD(0)
        raise InsufficientCreditError(
            f"Not enough credit: {purpose} ${format_usd(amount)} and the workspace has "
            f"${format_usd(available)} available.",
        )
    if await tx.execute(sql.HOLD_ON_KEY, key_id=key_id, amount=amount) != 1:
        raise InsufficientCreditError(
            f"This API key's spend limit leaves less than the ${format_usd(amount)} {purpose}.",
            code="key_spend_limit_reached",
        )


async def _claim(tx: Tx, hold_id: str, status: str, now: datetime) -> _Claimed | None:
    row = await tx.fetch_one(sql.CLAIM_HOLD, hold_id=hold_id, status=status, now=now)
    return _Claimed(row[0], row[1], MicroUSD(row[2])) if row else None


async def _claim_expired(tx: Tx, hold_id: str, now: datetime) -> _Claimed | None:
    """An expired hold (already given back by the reaper) with what it held."""
    row = await tx.fetch_one(sql.CLAIM_EXPIRED_HOLD, hold_id=hold_id, now=now)
    return _Claimed(row[0], row[1], MicroUSD(row[2])) if row else None


async def _unhold(tx: Tx, claimed: _Claimed, charged: MicroUSD) -> None:
    wallet = await tx.fetch_one(
        sql.UNHOLD_WALLET,
        workspace_id=claimed.workspace_id,
        amount=claimed.amount,
        charged=charged,
    )
    await tx.execute(sql.UNHOLD_KEY, key_id=claimed.key_id, amount=claimed.amount, charged=charged)
    if wallet is not None and wallet[1] is not None and charged > 0:
        after = int(wallet[0])
        if after < wallet[1] <= after + charged:
            await raise_alert(
                tx,
                BALANCE_LOW,
                {"balance_micro_usd": after},
                utcnow(),
                workspace_id=claimed.workspace_id,
                balance_crossed=(after + charged, after),
            )


async def _draw_expired(
    tx: Tx, hold_id: str, cost: MicroUSD, usage: UsageRecord, now: datetime
) -> MicroUSD:
    row = await tx.fetch_one(sql.EXPIRED_HOLD, hold_id=hold_id)
    held = MicroUSD(int(row[2])) if row else MicroUSD(0)
    charged = MicroUSD(0)
    if row is not None:
        billed = MicroUSD(min(cost, held))
        charged = await _charge_free(tx, _Claimed(row[0], row[1], held), billed)
        await tx.execute(sql.DRAW_EXPIRED_HOLD, hold_id=hold_id, amount=charged)
        await _spent(tx, hold_id, released=MicroUSD(0), charged=charged, usage=usage)
    await _record_charge(tx, usage, now, cost, charged, held)
    return charged


async def _spent(
    tx: Tx, hold_id: str, *, released: MicroUSD, charged: MicroUSD, usage: UsageRecord
) -> None:
    await budgets.spend(
        tx,
        hold_id,
        released=released,
        charged=charged,
        audio_milliseconds=usage.audio_milliseconds,
    )


async def _charge_free(tx: Tx, expired: _Claimed, amount: MicroUSD) -> MicroUSD:
    """Charge the work of a hold the reaper gave back, from credit no hold covers: at most what
    the hold held (`amount` is capped by the caller) and what the workspace has free."""
    if amount <= 0:
        return MicroUSD(0)
    if await tx.execute(sql.CHARGE_WALLET, workspace_id=expired.workspace_id, amount=amount) != 1:
        row = await tx.fetch_one(sql.AVAILABLE, workspace_id=expired.workspace_id)
        amount = MicroUSD(max(0, min(amount, int(row[0]) if row else 0)))
        if amount == 0:
            return amount
        await tx.execute(sql.CHARGE_WALLET, workspace_id=expired.workspace_id, amount=amount)
    await tx.execute(sql.CHARGE_KEY, key_id=expired.key_id, amount=amount)
    return amount


async def _record_charge(
    tx: Tx,
    usage: UsageRecord,
    now: datetime,
    cost: MicroUSD,
    charged: MicroUSD,
    held: MicroUSD,
    *,
    billed: MicroUSD | None = None,
) -> None:
    """The ledger entry and the usage record of a charge. The record's cost is what the client
    is billed, never past the hold: a cost past it is the provider's overrun, flagged. Only a
    reaped hold's work can be charged less than billed (the workspace had spent the credit)."""
    await tx.execute(
        sql.INSERT_CHARGE,
        workspace_id=usage.workspace_id,
        amount=-charged,
        reason=f"{usage.model} {usage.task}",
        request_id=usage.request_id,
        now=now,
    )
    overrun = usage.provider_overrun or cost > held
    flags = [
        name
        for name, raised in (
            ("provider_overrun", overrun),
            ("estimated", usage.estimated),
            ("usage_mismatch", usage.usage_mismatch),
        )
        if raised
    ]
    if flags:
        flagged = {
            "request_id": usage.request_id,
            "model": usage.model,
            "route": usage.route,
            "flags": flags,
            "cost_micro_usd": cost,
            "charged_micro_usd": charged,
            "hold_micro_usd": held,
        }
        await raise_alert(tx, CHARGE_FLAGGED, flagged, now, workspace_id=usage.workspace_id)
    await _insert_usage(
        tx,
        replace(usage, provider_overrun=overrun),
        now,
        cost=charged if billed is None else billed,
        charged=charged,
        held=held,
    )


async def _insert_usage(
    tx: Tx,
    usage: UsageRecord,
    now: datetime,
    *,
    cost: MicroUSD | None = None,
    charged: MicroUSD | None = None,
    held: MicroUSD | None = None,
) -> None:
    values: dict[str, Any] = usage.row() | {"created_at": now}
    if cost is not None:
        values["cost_micro_usd"] = cost
    if charged is not None:
        values["charged_micro_usd"] = charged
    if held is not None:
        values["hold_micro_usd"] = held
    while await tx.execute(sql.INSERT_USAGE, **values) == 0:
        values["request_id"] = f"{usage.request_id[:48]}.dup-{secrets.token_hex(6)}"
