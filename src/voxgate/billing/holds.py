"""Credit held before a call, then settled to the exact cost or released, exactly once."""

import secrets
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from voxgate.billing.pricing import format_usd
from voxgate.billing.usage import UsageRecord
from voxgate.errors import InsufficientCreditError
from voxgate.store.database import Database
from voxgate.store.tables import Hold, LedgerEntry, Usage, Wallet, utcnow
from voxgate.types import MicroUSD


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

    async def settle(self, hold_id: str, cost: MicroUSD, usage: UsageRecord) -> MicroUSD:
        """Charge `cost` (never more than was held) and write the usage record, atomically.

        Returns what was charged; a hold already closed is not charged again (0).
        """
        async with self._database.transaction() as connection:
            claimed = await self._claim(connection, hold_id, "settled")
            if claimed is None:
                return MicroUSD(0)
            workspace_id, amount = claimed
            charged = MicroUSD(min(cost, amount))
            await self._unhold(connection, workspace_id, amount, charged)
            await connection.execute(
                insert(LedgerEntry).values(
                    workspace_id=workspace_id,
                    amount_micro_usd=-charged,
                    kind="charge",
                    reason=f"{usage.model} {usage.task}",
                    request_id=usage.request_id,
                )
            )
            row = usage.row() | {"cost_micro_usd": charged, "hold_micro_usd": amount}
            await connection.execute(insert(Usage).values(**row))
        return charged

    async def release(self, hold_id: str, usage: UsageRecord) -> None:
        """Give the whole hold back (the call failed) and write the usage record."""
        async with self._database.transaction() as connection:
            claimed = await self._claim(connection, hold_id, "released")
            if claimed is None:
                return
            workspace_id, amount = claimed
            await self._unhold(connection, workspace_id, amount, MicroUSD(0))
            row = usage.row() | {"cost_micro_usd": 0, "hold_micro_usd": amount}
            await connection.execute(insert(Usage).values(**row))

    async def record(self, usage: UsageRecord) -> None:
        """The usage record of a request that never held credit (refused before the call)."""
        async with self._database.transaction() as connection:
            await connection.execute(insert(Usage).values(**usage.row()))

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
                    await self._unhold(connection, claimed[0], claimed[1], MicroUSD(0))
                    released += 1
        return released

    async def _claim(
        self, connection: AsyncConnection, hold_id: str, status: str
    ) -> tuple[str, MicroUSD] | None:
        result = await connection.execute(
            update(Hold)
            .where(Hold.id == hold_id, Hold.status == "open")
            .values(status=status, closed_at=utcnow())
            .returning(Hold.workspace_id, Hold.amount_micro_usd)
        )
        row = result.first()
        return (row[0], MicroUSD(row[1])) if row else None

    async def _unhold(
        self, connection: AsyncConnection, workspace_id: str, held: MicroUSD, charged: MicroUSD
    ) -> None:
        await connection.execute(
            update(Wallet)
            .where(Wallet.workspace_id == workspace_id)
            .values(
                held_micro_usd=Wallet.held_micro_usd - held,
                balance_micro_usd=Wallet.balance_micro_usd - charged,
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
