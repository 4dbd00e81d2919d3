"""The request log's filters over usage records: each narrows to what it names, within one
workspace; the time range is half open; open holds are listed with realtime ones marked."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from tests.database_fixtures import database
from voxgate.store.database import Database
from voxgate.store.tables import Hold, Usage
from voxgate.store.usage import UsageFilter, UsageReader
from voxgate.store.workspaces import Workspaces

__all__ = ["database"]

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _record(workspace_id: str, request_id: str, minutes: int, **fields: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "workspace_id": workspace_id,
        "key_id": "key_a",
        "model": "local-tts",
        "task": "speech",
        "status": "succeeded",
        "http_status": 200,
        "attempts": [],
        "created_at": START + timedelta(minutes=minutes),
        **fields,
    }


async def _seed(database: Database) -> tuple[str, str]:
    workspaces = Workspaces(database)
    mine, theirs = (await workspaces.create("mine")).id, (await workspaces.create("theirs")).id
    rows = [
        _record(mine, "req_1", 0),
        _record(mine, "req_2", 10, key_id="key_b", model="gpt-audio-1.5", task="chat"),
        _record(mine, "req_3", 20, status="failed", http_status=502),
        _record(mine, "rt_1.1", 30, task="realtime", http_status=101),
        _record(theirs, "req_9", 5),
    ]
    async with database.transaction() as connection:
        await connection.execute(insert(Usage), rows)
    return mine, theirs


async def _ids(reader: UsageReader, workspace_id: str, where: UsageFilter) -> list[str]:
    return [row["request_id"] for row in await reader.page(workspace_id, where=where)]


async def test_each_filter_narrows_to_what_it_names(database: Database) -> None:
    mine, _ = await _seed(database)
    reader = UsageReader(database)
    assert await _ids(reader, mine, UsageFilter()) == ["rt_1.1", "req_3", "req_2", "req_1"]
    assert await _ids(reader, mine, UsageFilter(request_id="req_2")) == ["req_2"]
    assert await _ids(reader, mine, UsageFilter(key_id="key_b")) == ["req_2"]
    assert await _ids(reader, mine, UsageFilter(model="gpt-audio-1.5")) == ["req_2"]
    assert await _ids(reader, mine, UsageFilter(status="failed")) == ["req_3"]
    assert await _ids(reader, mine, UsageFilter(task="realtime")) == ["rt_1.1"]
    assert await _ids(reader, mine, UsageFilter(key_id="key_a", status="succeeded")) == [
        "rt_1.1",
        "req_1",
    ]


async def test_the_time_range_includes_its_start_and_excludes_its_end(database: Database) -> None:
    mine, _ = await _seed(database)
    reader = UsageReader(database)
    window = UsageFilter(since=START + timedelta(minutes=10), until=START + timedelta(minutes=20))
    assert await _ids(reader, mine, window) == ["req_2"]


async def test_no_filter_reaches_another_workspace(database: Database) -> None:
    mine, theirs = await _seed(database)
    reader = UsageReader(database)
    assert await _ids(reader, mine, UsageFilter(request_id="req_9")) == []
    assert await _ids(reader, theirs, UsageFilter(request_id="req_1")) == []
    assert await _ids(reader, theirs, UsageFilter()) == ["req_9"]


async def test_the_series_reads_one_workspace_oldest_first(database: Database) -> None:
    mine, _ = await _seed(database)
    rows = await UsageReader(database).series(mine, START, START + timedelta(days=1), limit=3)
    assert [row["model"] for row in rows] == ["local-tts", "gpt-audio-1.5", "local-tts"]
    assert [row["status"] for row in rows] == ["succeeded", "succeeded", "failed"]


async def test_open_holds_are_listed_and_a_realtime_sessions_is_marked(database: Database) -> None:
    mine, theirs = await _seed(database)
    later = START + timedelta(hours=1)
    holds = [
        {"id": "h1", "workspace_id": mine, "key_id": "key_a", "request_id": "rt_1",
         "amount_micro_usd": 500, "status": "open", "created_at": START, "expires_at": later},
        {"id": "h2", "workspace_id": mine, "key_id": "key_a", "request_id": "req_4",
         "amount_micro_usd": 70, "status": "open", "created_at": later, "expires_at": later},
        {"id": "h3", "workspace_id": mine, "key_id": "key_a", "request_id": "req_1",
         "amount_micro_usd": 90, "status": "settled", "created_at": START, "expires_at": later},
        {"id": "h4", "workspace_id": theirs, "key_id": "key_z", "request_id": "req_8",
         "amount_micro_usd": 90, "status": "open", "created_at": START, "expires_at": later},
    ]  # fmt: skip
    async with database.transaction() as connection:
        await connection.execute(insert(Hold), holds)
    assert await UsageReader(database).open_hold_counts() == {mine: 2, theirs: 1}
    listed = await UsageReader(database).open_holds(mine)
    assert [(h["request_id"], h["amount_micro_usd"], bool(h["realtime"])) for h in listed] == [
        ("rt_1", 500, True),
        ("req_4", 70, False),
    ]
