"""Idempotency records: a lease for work in flight, bounded answers, and a retention."""

from datetime import timedelta

from sqlalchemy import func, select

from tests.database_fixtures import database
from voxgate.store.database import Database
from voxgate.store.idempotency import IdempotencyStore, StoredAnswer
from voxgate.store.tables import IdempotencyRecord
from voxgate.store.workspaces import Workspaces

__all__ = ["database"]

ANSWER = StoredAnswer(200, "audio/mpeg", "req_first", b"ID3 audio bytes")


async def workspace(db: Database) -> str:
    return (await Workspaces(db).create("idempotency")).id


async def record_count(db: Database) -> int:
    async with db.reading() as connection:
        return int(
            (
                await connection.execute(select(func.count()).select_from(IdempotencyRecord))
            ).scalar_one()
        )


async def test_a_completed_answer_is_replayed_with_its_type(database: Database) -> None:
    store = IdempotencyStore(database, timedelta(hours=1))
    ws = await workspace(database)
    assert (await store.claim(ws, "k", "hash")).state == "claimed"
    assert (await store.claim(ws, "k", "hash")).state == "in_progress"
    await store.complete(ws, "k", ANSWER)
    again = await store.claim(ws, "k", "hash")
    assert again.state == "completed" and again.answer == ANSWER
    assert (await store.claim(ws, "k", "other-hash")).state == "mismatch"


async def test_an_answer_not_kept_still_names_its_request(database: Database) -> None:
    store = IdempotencyStore(database, timedelta(hours=1))
    ws = await workspace(database)
    await store.claim(ws, "big", "hash")
    await store.complete(ws, "big", StoredAnswer(200, "audio/mpeg", "req_big", None))
    again = await store.claim(ws, "big", "hash")
    assert again.state == "completed" and again.answer is not None
    assert again.answer.body is None and again.answer.request_id == "req_big"


async def test_a_claim_whose_process_died_frees_after_its_lease(database: Database) -> None:
    """A kill -9 leaves the record in progress; its lease runs out and the key is free."""
    ws = await workspace(database)
    dead = IdempotencyStore(database, timedelta(hours=24), lease=timedelta(seconds=30))
    assert (await dead.claim(ws, "k", "hash")).state == "claimed"
    assert (await dead.claim(ws, "k", "hash")).state == "in_progress"
    later = IdempotencyStore(database, timedelta(hours=24), lease=timedelta(0))
    assert (await later.claim(ws, "k", "hash")).state == "claimed"


async def test_a_renewed_lease_keeps_the_claim(database: Database) -> None:
    ws = await workspace(database)
    store = IdempotencyStore(database, timedelta(hours=24), lease=timedelta(seconds=30))
    await store.claim(ws, "k", "hash")
    await store.renew(ws, "k")
    assert (await store.claim(ws, "k", "hash")).state == "in_progress"


async def test_records_past_retention_are_purged(database: Database) -> None:
    ws = await workspace(database)
    store = IdempotencyStore(database, timedelta(hours=1))
    for key in ("a", "b", "c"):
        await store.claim(ws, key, "hash")
        await store.complete(ws, key, ANSWER)
    assert await record_count(database) == 3
    assert await store.purge() == 0
    expired = IdempotencyStore(database, timedelta(0))
    assert await expired.purge() == 3
    assert await record_count(database) == 0


async def test_claims_purge_other_keys_records_too(database: Database) -> None:
    ws = await workspace(database)
    old = IdempotencyStore(database, timedelta(hours=1))
    await old.claim(ws, "old", "hash")
    await old.complete(ws, "old", ANSWER)
    fresh = IdempotencyStore(database, timedelta(0))
    await fresh.claim(ws, "new", "hash")
    assert await record_count(database) == 1
