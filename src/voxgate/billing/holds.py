"""Credit held before a call, then settled to the exact cost or released, exactly once."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from voxgate.billing.pricing import format_usd
from voxgate.billing.usage import UsageRecord
from voxgate.errors import InsufficientCreditError
from voxgate.store.database import Database
from voxgate.store.tables import ApiKey, Hold, LedgerEntry, Usage, Wallet, utcnow
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
        async with self._database.transaction() as connection:
            # One conditional statement: the check and the hold cannot be raced apart.
            held = await connection.execute(
                update(Wallet)
                .where(
                    Wallet.workspace_id == workspace_id,
                    Wallet.balance_micro_usd - Wallet.held_micro_usd >= amount,
                )
                .values(held_micro_usd=Wallet.held_micro_usd + amount)
            )
            if held.rowcount != 1:
                raise await self._insufficient(connection, workspace_id, amount)
            if not await self._hold_on_key(connection, key_id, amount):
                raise InsufficientCreditError(
                    f"This API key's spend limit leaves less than the ${format_usd(amount)} "
                    "this request must hold.",
                    code="key_spend_limit_reached",
                )
            await connection.execute(
                insert(Hold).values(
                    id=hold_id,
                    workspace_id=workspace_id,
                    key_id=key_id,
                    request_id=request_id,
                    amount_micro_usd=amount,
                    status="open",
                    created_at=now,
                    expires_at=now + timedelta(seconds=ttl_seconds),
                )
            )
        return hold_id

    async def extend(self, hold_id: str, amount: MicroUSD) -> None:
        """Hold `amount` more on an open hold (a realtime session that keeps going), or raise
        InsufficientCreditError having changed nothing."""
        async with self._database.transaction() as connection:
            hold = (
                await connection.execute(
                    select(Hold.workspace_id, Hold.key_id).where(
                        Hold.id == hold_id, Hold.status == "open"
                    )
                )
            ).first()
            if hold is None:
                raise InsufficientCreditError("The session's hold is closed.")
            held = await connection.execute(
                update(Wallet)
                .where(
                    Wallet.workspace_id == hold.workspace_id,
                    Wallet.balance_micro_usd - Wallet.held_micro_usd >= amount,
                )
                .values(held_micro_usd=Wallet.held_micro_usd + amount)
            )
            if held.rowcount != 1:
                raise await self._insufficient(connection, hold.workspace_id, amount)
            if not await self._hold_on_key(connection, hold.key_id, amount):
                raise InsufficientCreditError(
                    "This API key's spend limit is reached.", code="key_spend_limit_reached"
                )
            await connection.execute(
                update(Hold)
                .where(Hold.id == hold_id)
                .values(amount_micro_usd=Hold.amount_micro_usd + amount)
            )

    async def settle(self, hold_id: str, cost: MicroUSD, usage: UsageRecord) -> MicroUSD:
        """Charge `cost` (never more than was held) and write the usage record, atomically.

        Returns what was charged; a hold already closed is not charged again (0).
        """
        async with self._database.transaction() as connection:
            claimed = await self._claim(connection, hold_id, "settled")
            if claimed is None:
                return MicroUSD(0)
            charged = MicroUSD(min(cost, claimed.amount))
            await self._unhold(connection, claimed, charged)
            await connection.execute(
                insert(LedgerEntry).values(
                    workspace_id=claimed.workspace_id,
                    amount_micro_usd=-charged,
                    kind="charge",
                    reason=f"{usage.model} {usage.task}",
                    request_id=usage.request_id,
                )
            )
            row = usage.row() | {"cost_micro_usd": charged, "hold_micro_usd": claimed.amount}
            await connection.execute(insert(Usage).values(**row))
        return charged

    async def release(self, hold_id: str, usage: UsageRecord) -> None:
        """Give the whole hold back (the call failed) and write the usage record."""
        async with self._database.transaction() as connection:
            claimed = await self._claim(connection, hold_id, "released")
            if claimed is None:
                return
            await self._unhold(connection, claimed, MicroUSD(0))
            row = usage.row() | {"cost_micro_usd": 0, "hold_micro_usd": claimed.amount}
            await connection.execute(insert(Usage).values(**row))

    async def record(self, usage: UsageRecord) -> None:
        """The usage record of a request that never held credit (refused before the call)."""
        async with self._database.transaction() as connection:
            await connection.execute(insert(Usage).values(**usage.row()))

    async def open_count(self) -> int:
        async with self._database.reading() as connection:
            count = await connection.scalar(select(func.count()).where(Hold.status == "open"))
        return int(count or 0)

    async def reap_expired(self, now: datetime | None = None) -> int:
        """Release holds whose requests died; each claimed once even with many reapers."""
        cutoff = now or utcnow()
        async with self._database.reading() as connection:
            expired = (
                await connection.scalars(
                    select(Hold.id).where(Hold.status == "open", Hold.expires_at < cutoff)
                )
            ).all()
        released = 0
        for hold_id in expired:
            async with self._database.transaction() as connection:
                claimed = await self._claim(connection, hold_id, "expired")
                if claimed is not None:
                    await self._unhold(connection, claimed, MicroUSD(0))
                    released += 1
        return released

    async def _hold_on_key(
        self, connection: AsyncConnection, key_id: str, amount: MicroUSD
    ) -> bool:
        held = await connection.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(
                    ApiKey.spend_limit_micro_usd.is_(None),
                    ApiKey.spent_micro_usd + ApiKey.held_micro_usd + amount
                    <= ApiKey.spend_limit_micro_usd,
                ),
            )
            .values(held_micro_usd=ApiKey.held_micro_usd + amount)
        )
        return held.rowcount == 1

    async def _claim(
        self, connection: AsyncConnection, hold_id: str, status: str
    ) -> _Claimed | None:
        """Close an open hold; only one of any racing closers gets it."""
        result = await connection.execute(
            update(Hold)
            .where(Hold.id == hold_id, Hold.status == "open")
            .values(status=status, closed_at=utcnow())
            .returning(Hold.workspace_id, Hold.key_id, Hold.amount_micro_usd)
        )
        row = result.first()
        return _Claimed(row[0], row[1], MicroUSD(row[2])) if row else None

    async def _unhold(
        self, connection: AsyncConnection, claimed: _Claimed, charged: MicroUSD
    ) -> None:
        await connection.execute(
            update(Wallet)
            .where(Wallet.workspace_id == claimed.workspace_id)
            .values(
                held_micro_usd=Wallet.held_micro_usd - claimed.amount,
                balance_micro_usd=Wallet.balance_micro_usd - charged,
            )
        )
        await connection.execute(
            update(ApiKey)
            .where(ApiKey.id == claimed.key_id)
            .values(
                held_micro_usd=ApiKey.held_micro_usd - claimed.amount,
                spent_micro_usd=ApiKey.spent_micro_usd + charged,
            )
        )

    async def _insufficient(
        self, connection: AsyncConnection, workspace_id: str, amount: MicroUSD
    ) -> InsufficientCreditError:
        row = (
            await connection.execute(
                select(Wallet.balance_micro_usd, Wallet.held_micro_usd).where(
                    Wallet.workspace_id == workspace_id
                )
            )
        ).first()
        available = MicroUSD(row[0] - row[1]) if row else MicroUSD(0)
        return InsufficientCreditError(
            f"Not enough credit: this request needs a hold of ${format_usd(amount)} and the "
            f"workspace has ${format_usd(available)} available.",
        )
