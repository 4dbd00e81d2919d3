"""Idempotency keys: the first result of a request is kept and returned to its retries."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from voxgate.store.database import Database
from voxgate.store.tables import IdempotencyRecord, utcnow


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a key: ours to run, someone else's in flight, or a replay."""

    state: str  # claimed, in_progress, mismatch, completed
    response_status: int | None = None
    response_body: bytes | None = None


class IdempotencyStore:
    def __init__(self, database: Database, retention: timedelta) -> None:
        self._database = database
        self._retention = retention

    async def claim(self, workspace_id: str, key: str, request_hash: str) -> Claim:
        await self._forget_expired(workspace_id, key)
        try:
            async with self._database.transaction() as connection:
                await connection.execute(
                    insert(IdempotencyRecord).values(
                        workspace_id=workspace_id,
                        key=key,
                        request_hash=request_hash,
                        status="in_progress",
                        created_at=utcnow(),
                    )
                )
            return Claim("claimed")
        except IntegrityError:
            return await self._existing(workspace_id, key, request_hash)

    async def complete(self, workspace_id: str, key: str, status: int, body: bytes) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.workspace_id == workspace_id, IdempotencyRecord.key == key)
                .values(status="completed", response_status=status, response_body=body)
            )

    async def abandon(self, workspace_id: str, key: str) -> None:
        """The request failed: its key is free for a retry to run it again."""
        async with self._database.transaction() as connection:
            await connection.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.workspace_id == workspace_id,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.status == "in_progress",
                )
            )

    async def _existing(self, workspace_id: str, key: str, request_hash: str) -> Claim:
        async with self._database.reading() as connection:
            row = (
                await connection.execute(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.workspace_id == workspace_id,
                        IdempotencyRecord.key == key,
                    )
                )
            ).first()
        if row is None:
            return Claim("in_progress")
        if row.request_hash != request_hash:
            return Claim("mismatch")
        if row.status != "completed":
            return Claim("in_progress")
        return Claim("completed", row.response_status, row.response_body)

    async def _forget_expired(self, workspace_id: str, key: str) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.workspace_id == workspace_id,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.created_at < utcnow() - self._retention,
                )
            )
