from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, text

from voxgate.store.database import Database
from voxgate.store.sql import Sql, Tx, sqlite_time
from voxgate.store.tables import Workspace
from voxgate.store.workspaces import Workspaces

RENAME = Sql("UPDATE workspaces SET name = :name WHERE id = :workspace_id")
NAME = Sql("SELECT name, created_at FROM workspaces WHERE id = :workspace_id")


def test_named_parameters_are_numbered_once_each_for_postgres() -> None:
    statement = Sql("SELECT :b, :a::text, :b + 1 WHERE x = ':not' AND y = :a")
    assert statement.names == ("b", "a")
    assert statement.numbered.startswith("SELECT $1, $2::text, $1 + 1")
    assert statement.numbered.endswith("AND y = $2")


async def test_a_write_commits_and_a_failed_one_changes_nothing(database: Database) -> None:
    workspace = await Workspaces(database).create("before", opening_credit=0)

    async def rename(tx: Tx, name: str) -> int:
        return await tx.execute(RENAME, name=name, workspace_id=workspace.id)

    assert await database.write(lambda tx: rename(tx, "after")) == 1

    async def rename_then_fail(tx: Tx) -> None:
        await rename(tx, "lost")
        raise RuntimeError("the request died midway")

    with pytest.raises(RuntimeError):
        await database.write(rename_then_fail)

    async def name(tx: Tx) -> str:
        row = await tx.fetch_one(NAME, workspace_id=workspace.id)
        assert row is not None
        return str(row[0])

    assert await database.read(name) == "after"
    # The same connection takes the next transaction cleanly after the rollback.
    assert await database.write(lambda tx: rename(tx, "again")) == 1
    assert await database.read(name) == "again"


async def test_times_written_directly_read_back_like_sqlalchemy_writes_them(
    database: Database,
) -> None:
    """Holds expire by comparing times in SQL, so both writers must agree on the form."""
    moment = datetime(2026, 11, 24, 21, 0, 5, 0, tzinfo=UTC)
    async with database.transaction() as connection:
        await connection.execute(
            insert(Workspace).values(id="ws_orm", name="orm", created_at=moment)
        )
    direct = Sql("INSERT INTO workspaces (id, name, created_at) VALUES (:id, :name, :at)")
    await database.write(lambda tx: tx.execute(direct, id="ws_direct", name="direct", at=moment))
    async with database.reading() as connection:
        read_back = (await connection.scalars(select(Workspace.created_at))).all()
        stored = (await connection.execute(text("SELECT created_at FROM workspaces"))).scalars()
        raw = [str(value) for value in stored]
    assert read_back == [moment, moment]
    assert raw[0] == raw[1]
    if database.is_sqlite:
        assert raw[0] == sqlite_time(moment) == "2026-11-24 21:00:05.000000"
