"""Idempotency keys: the first result of a request is kept (when small) for its retries.

A record is claimed "in progress" with a short lease that the running request renews, so a
process killed mid-request leaves its keys free again within one lease. A completed record keeps
the answer only when it is small; a larger or streamed one keeps its request id, and a retry is
told that the original completed. Records are purged after their retention.
"""

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import orjson
from sqlalchemy import ColumnElement, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from voxgate.store.database import Database
from voxgate.store.tables import IdempotencyRecord, utcnow

DEFAULT_LEASE = timedelta(seconds=30)
PURGE_INTERVAL_SECONDS = 60.0
# A stored answer is a small header line (its content type and request id) and the body.
HEADER_END = b"\n"

ClaimState = Literal["claimed", "in_progress", "mismatch", "completed"]


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """What a completed request answered; `body` is None when it was too large or streamed."""

    status: int
    content_type: str
    request_id: str | None
    body: bytes | None


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a key: ours to run, someone else's in flight, or a replay."""

    state: ClaimState
    answer: StoredAnswer | None = None


class IdempotencyStore:
    def __init__(
        self,
        database: Database,
        retention: timedelta,
        *,
        lease: timedelta = DEFAULT_LEASE,
        purge_interval_seconds: float = PURGE_INTERVAL_SECONDS,
    ) -> None:
        self._database = database
        self._retention = retention
        self.lease = lease
        self._purge_interval = purge_interval_seconds
        self._next_purge = 0.0

    async def claim(self, workspace_id: str, key: str, request_hash: str) -> Claim:
        await self._purge_now_and_then()
        await self._forget_expired(IdempotencyRecord.workspace_id == workspace_id, key=key)
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

    async def renew(self, workspace_id: str, key: str) -> None:
        """The request still runs: its lease starts again."""
        async with self._database.transaction() as connection:
            await connection.execute(
                update(IdempotencyRecord)
                .where(*_in_progress(workspace_id, key))
                .values(created_at=utcnow())
            )

    async def complete(self, workspace_id: str, key: str, answer: StoredAnswer) -> None:
        """Retention counts from here, when the answer is known."""
        async with self._database.transaction() as connection:
            await connection.execute(
                update(IdempotencyRecord)
                .where(*_in_progress(workspace_id, key))
                .values(
                    status="completed",
                    response_status=answer.status,
                    response_body=_pack(answer),
                    created_at=utcnow(),
                )
            )

    async def abandon(self, workspace_id: str, key: str) -> None:
        """The request failed: its key is free for a retry to run it again."""
        async with self._database.transaction() as connection:
            await connection.execute(
                delete(IdempotencyRecord).where(*_in_progress(workspace_id, key))
            )

    async def purge(self) -> int:
        """Every record past its retention, and every in-progress one past its lease."""
        return await self._forget_expired(None)

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
        return Claim("completed", _unpack(row.response_status, row.response_body))

    async def _forget_expired(
        self, scope: ColumnElement[bool] | None, *, key: str | None = None
    ) -> int:
        now = utcnow()
        expired = or_(
            and_(
                IdempotencyRecord.status == "in_progress",
                IdempotencyRecord.created_at < now - self.lease,
            ),
            and_(
                IdempotencyRecord.status == "completed",
                IdempotencyRecord.created_at < now - self._retention,
            ),
        )
        conditions = [expired]
        if scope is not None:
            conditions.append(scope)
        if key is not None:
            conditions.append(IdempotencyRecord.key == key)
        async with self._database.transaction() as connection:
            result = await connection.execute(delete(IdempotencyRecord).where(*conditions))
        return int(result.rowcount or 0)

    async def _purge_now_and_then(self) -> None:
        # Claims are when records are written, so they are when the table is kept short.
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self._purge_interval
        await self.purge()


def _in_progress(workspace_id: str, key: str) -> tuple[ColumnElement[bool], ...]:
    return (
        IdempotencyRecord.workspace_id == workspace_id,
        IdempotencyRecord.key == key,
        IdempotencyRecord.status == "in_progress",
    )


def _pack(answer: StoredAnswer) -> bytes:
    header = {
        "content_type": answer.content_type,
        "request_id": answer.request_id,
        "stored": answer.body is not None,
    }
    return orjson.dumps(header) + HEADER_END + (answer.body or b"")


def _unpack(status: int | None, packed: bytes | None) -> StoredAnswer:
    head, found, body = (packed or b"").partition(HEADER_END)
    if not found:
        # Written before answers had a header line: the unified endpoint's JSON, whole.
        return StoredAnswer(status or 200, "application/json", None, packed or b"")
    header = orjson.loads(head)
    return StoredAnswer(
        status or 200,
        header["content_type"],
        header["request_id"],
        body if header["stored"] else None,
    )
