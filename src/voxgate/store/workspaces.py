"""Workspaces, each with one wallet; the opening credit is a ledger entry like any other."""

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from voxgate.store.database import Database
from voxgate.store.tables import LedgerEntry, Wallet, Webhook, Workspace, utcnow


@dataclass(frozen=True, slots=True)
class WorkspaceRecord:
    id: str
    name: str
    created_at: datetime
    # Opted in to the speech cache (gateway/speech_cache.py).
    speech_cache: bool = False


class WorkspaceNameTaken(ValueError):
    """Another workspace has this name (names are unique)."""


class Workspaces:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, name: str, *, opening_credit: int = 0) -> WorkspaceRecord:
        """The new workspace; WorkspaceNameTaken when the name is in use, even when another
        request took it a moment ago (the unique index decides, not an earlier lookup)."""
        record = WorkspaceRecord(f"ws_{secrets.token_hex(8)}", name, utcnow())
        try:
            await self._insert(record, opening_credit)
        except IntegrityError as exc:
            if await self.get_by_name(name) is None:
                raise  # another constraint: not the name
            raise WorkspaceNameTaken(name) from exc
        return record

    async def _insert(self, record: WorkspaceRecord, opening_credit: int) -> None:
        name = record.name
        async with self._database.transaction() as connection:
            await connection.execute(
                insert(Workspace).values(id=record.id, name=name, created_at=record.created_at)
            )
            # The operator's webhooks watch every workspace's balance, this one's too.
            watched = (
                select(func.max(Webhook.balance_below_micro_usd))
                .where(Webhook.workspace_id.is_(None))
                .scalar_subquery()
            )
            await connection.execute(
                insert(Wallet).values(
                    workspace_id=record.id,
                    balance_micro_usd=opening_credit,
                    held_micro_usd=0,
                    alert_below_micro_usd=watched,
                )
            )
            if opening_credit:
                await connection.execute(
                    insert(LedgerEntry).values(
                        workspace_id=record.id,
                        amount_micro_usd=opening_credit,
                        kind="credit",
                        reason="opening credit",
                    )
                )

    async def get_by_name(self, name: str) -> WorkspaceRecord | None:
        return await self._one(Workspace.name == name)

    async def get(self, workspace_id: str) -> WorkspaceRecord | None:
        return await self._one(Workspace.id == workspace_id)

    async def list(self) -> list[WorkspaceRecord]:
        async with self._database.reading() as connection:
            rows = await connection.execute(select(*_COLUMNS).order_by(Workspace.created_at))
            return [WorkspaceRecord(*row) for row in rows]

    async def set_speech_cache(self, workspace_id: str, enabled: bool) -> None:
        """Opt the workspace in to the speech cache, or out (its cached answers stay on disk
        until evicted, served to nobody while it is out)."""
        async with self._database.transaction() as connection:
            await connection.execute(
                update(Workspace).where(Workspace.id == workspace_id).values(speech_cache=enabled)
            )

    async def _one(self, condition: object) -> WorkspaceRecord | None:
        async with self._database.reading() as connection:
            row = (
                await connection.execute(
                    select(*_COLUMNS).where(condition)  # type: ignore[arg-type]
                )
            ).first()
        return WorkspaceRecord(*row) if row else None


_COLUMNS = (Workspace.id, Workspace.name, Workspace.created_at, Workspace.speech_cache)
