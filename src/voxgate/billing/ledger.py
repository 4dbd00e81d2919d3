"""Credits and debits that move a wallet's balance, each with its ledger entry."""

from dataclasses import dataclass

from sqlalchemy import func, insert, select, update

from voxgate.errors import InvalidRequestError
from voxgate.money import format_usd
from voxgate.store.database import Database
from voxgate.store.tables import LedgerEntry, Wallet, Workspace
from voxgate.types import MicroUSD


@dataclass(frozen=True, slots=True)
class WalletView:
    balance_micro_usd: int
    held_micro_usd: int

    @property
    def available_micro_usd(self) -> int:
        return self.balance_micro_usd - self.held_micro_usd


class Ledger:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def credit(self, workspace_id: str, amount: MicroUSD, reason: str) -> WalletView:
        if amount <= 0:
            raise InvalidRequestError("A credit must be positive.", param="amount")
        return await self._move(workspace_id, amount, "credit", reason)

    async def debit(self, workspace_id: str, amount: MicroUSD, reason: str) -> WalletView:
        if amount <= 0:
            raise InvalidRequestError("A debit must be positive.", param="amount")
        return await self._move(workspace_id, MicroUSD(-amount), "debit", reason)

    async def wallet(self, workspace_id: str) -> WalletView | None:
        async with self._database.reading() as connection:
            row = (
                await connection.execute(
                    select(Wallet.balance_micro_usd, Wallet.held_micro_usd).where(
                        Wallet.workspace_id == workspace_id
                    )
                )
            ).first()
        return WalletView(row[0], row[1]) if row else None

    async def ledger_sum(self, workspace_id: str) -> int:
        async with self._database.reading() as connection:
            total = await connection.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount_micro_usd), 0)).where(
                    LedgerEntry.workspace_id == workspace_id
                )
            )
        return int(total or 0)

    async def _move(
        self, workspace_id: str, amount: MicroUSD, kind: str, reason: str
    ) -> WalletView:
        async with self._database.transaction() as connection:
            # A debit may take only what is not held for requests in flight.
            moved = await connection.execute(
                update(Wallet)
                .where(
                    Wallet.workspace_id == workspace_id,
                    Wallet.balance_micro_usd - Wallet.held_micro_usd + amount >= 0,
                )
                .values(balance_micro_usd=Wallet.balance_micro_usd + amount)
                .returning(Wallet.balance_micro_usd, Wallet.held_micro_usd)
            )
            row = moved.first()
            if row is None:
                raise InvalidRequestError(
                    f"The wallet cannot be debited {format_usd(MicroUSD(-amount))} USD: "
                    "not enough available credit, or no such workspace.",
                    param="amount",
                )
            await connection.execute(
                insert(LedgerEntry).values(
                    workspace_id=workspace_id, amount_micro_usd=amount, kind=kind, reason=reason
                )
            )
        return WalletView(row[0], row[1])

    async def balances(self) -> list[tuple[str, int, int]]:
        """Every workspace's (name, balance, held) micro-USD, for the metrics gauges."""
        query = select(Workspace.name, Wallet.balance_micro_usd, Wallet.held_micro_usd).join(
            Workspace, Workspace.id == Wallet.workspace_id
        )
        async with self._database.reading() as connection:
            return [(row[0], int(row[1]), int(row[2])) for row in await connection.execute(query)]
