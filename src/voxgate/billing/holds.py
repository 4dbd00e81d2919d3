"""Credit held before a call, then settled to the exact cost or released, exactly once."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from voxgate.billing import statements as sql
from voxgate.billing.pricing import format_usd
from voxgate.billing.usage import UsageRecord
from voxgate.errors import InsufficientCreditError
from voxgate.store.database import Database
from voxgate.store.sql import Tx
from voxgate.store.tables import utcnow
from voxgate.types import MicroUSD


class HoldBook(Protocol):
    """Where the gateway holds and settles credit: the database, or nowhere (billing off)."""

    async def place(
        self, *, workspace_id: str, key_id: str, request_id: str, amount: MicroUSD, ttl_seconds: int
    ) -> str: ...

    async def extend(self, hold_id: str, amount: MicroUSD) -> None: ...

    async def settle(self, hold_id: str, cost: MicroUSD, usage: UsageRecord) -> MicroUSD: ...

    async def release(self, hold_id: str, usage: UsageRecord) -> None: ...

    async def record(self, usage: UsageRecord) -> None: ...

    async def reap_expired(self, now: datetime | None = None) -> int: ...

    async def open_count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _Claimed:
    workspace_id: str
    key_id: str
    amount: MicroUSD


class Holds:
    def __init__(self, database: Database) -> None:
        self._database = database

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
        """Hold `amount` more on an open hold (a realtime session that keeps going), or raise
        InsufficientCreditError having changed nothing."""

        async def work(tx: Tx) -> None:
            hold = await tx.fetch_one(sql.OPEN_HOLD, hold_id=hold_id)
            if hold is None:
                raise InsufficientCreditError("The session's hold is closed.")
            await _hold(tx, hold[0], hold[1], amount, "the session must hold to go on")
            await tx.execute(sql.GROW_HOLD, hold_id=hold_id, amount=amount)

        await self._database.write(work)

    async def settle(self, hold_id: str, cost: MicroUSD, usage: UsageRecord) -> MicroUSD:
        """Charge `cost` (never more than was held) and write the usage record, atomically.

        Returns what was charged; a hold already closed is not charged again (0).
        """

        async def work(tx: Tx) -> MicroUSD:
            now = utcnow()
            claimed = await _claim(tx, hold_id, "settled", now)
            if claimed is None:
                return MicroUSD(0)
            charged = MicroUSD(min(cost, claimed.amount))
            await _unhold(tx, claimed, charged)
            await tx.execute(
                sql.INSERT_CHARGE,
                workspace_id=claimed.workspace_id,
                amount=-charged,
                reason=f"{usage.model} {usage.task}",
                request_id=usage.request_id,
                now=now,
            )
            await _insert_usage(tx, usage, now, cost=charged, held=claimed.amount)
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
            await _insert_usage(tx, usage, now, cost=MicroUSD(0), held=claimed.amount)

        await self._database.write(work)

    async def record(self, usage: UsageRecord) -> None:
        """The usage record of a request that never held credit (refused before the call)."""

        async def work(tx: Tx) -> None:
            await _insert_usage(tx, usage, utcnow())

        await self._database.write(work)

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


async def _unhold(tx: Tx, claimed: _Claimed, charged: MicroUSD) -> None:
    await tx.execute(
        sql.UNHOLD_WALLET,
        workspace_id=claimed.workspace_id,
        amount=claimed.amount,
        charged=charged,
    )
    await tx.execute(sql.UNHOLD_KEY, key_id=claimed.key_id, amount=claimed.amount, charged=charged)


async def _insert_usage(
    tx: Tx,
    usage: UsageRecord,
    now: datetime,
    *,
    cost: MicroUSD | None = None,
    held: MicroUSD | None = None,
) -> None:
    values: dict[str, Any] = usage.row() | {"created_at": now}
    if cost is not None:
        values["cost_micro_usd"] = cost
    if held is not None:
        values["hold_micro_usd"] = held
    await tx.execute(sql.INSERT_USAGE, **values)
