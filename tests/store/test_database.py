import asyncio
import os
import shutil
import sqlite3
import sys
import threading
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import inspect

from tests.database_fixtures import POSTGRES_URL
from voxgate.store.database import LOWEST_PRIORITY, Database, DatabaseUnavailableError
from voxgate.store.sql import Sql, Tx
from voxgate.store.workspaces import Workspaces


async def test_migrations_create_every_table_and_run_twice(database: Database) -> None:
    await database.migrate()
    async with database.reading() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {
        "workspaces",
        "api_keys",
        "wallets",
        "holds",
        "ledger_entries",
        "usage_records",
    } <= tables
    assert await database.ping()


async def test_checkpoint_moves_the_write_ahead_log_into_the_database_file(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}")
    await database.migrate()
    workspace = await Workspaces(database).create("logged", opening_credit=0)
    rename = Sql("UPDATE workspaces SET name = :name WHERE id = :id")
    for step in range(50):
        await database.write(
            lambda tx, step=step: tx.execute(rename, name=f"n{step}", id=workspace.id)
        )

    def name_in_file_alone() -> str:
        # The database file without its -wal file: what a checkpoint has copied over.
        copy = tmp_path / "copy.db"
        shutil.copyfile(tmp_path / "voxgate.db", copy)
        try:
            with closing(sqlite3.connect(copy)) as connection:
                row = connection.execute(
                    "SELECT name FROM workspaces WHERE id = ?", (workspace.id,)
                ).fetchone()
        except sqlite3.OperationalError:  # not even the tables have been copied yet
            row = None
        copy.unlink()
        return str(row[0]) if row else ""

    assert name_in_file_alone() != "n49"
    await database.checkpoint()
    assert name_in_file_alone() == "n49"
    await database.dispose()


@pytest.mark.skipif(sys.platform != "linux", reason="niceness per thread is Linux's")
async def test_checkpoints_run_on_a_thread_at_the_lowest_priority(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}")
    await database.migrate()
    await database.checkpoint()
    niceness = await asyncio.wrap_future(
        database._checkpointer.submit(
            lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        )
    )
    assert niceness == LOWEST_PRIORITY
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < LOWEST_PRIORITY
    await database.dispose()


async def select_one(tx: Tx) -> tuple[object, ...] | None:
    return await tx.fetch_one(Sql("SELECT 1"))


@pytest.mark.postgres
async def test_a_backend_killed_mid_statement_is_the_database_being_unavailable() -> None:
    """What an outage looks like from inside a request: the statement's connection dies."""
    database = Database(POSTGRES_URL)
    started = asyncio.Event()
    backend: list[int] = []

    async def long_statement(tx: Tx) -> None:
        row = await tx.fetch_one(Sql("SELECT pg_backend_pid()"))
        assert row is not None
        backend.append(row[0])
        started.set()
        await tx.fetch_one(Sql("SELECT pg_sleep(30)"))

    try:
        running = asyncio.create_task(database.read(long_statement))
        async with asyncio.timeout(10):
            await started.wait()
        killer = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
        try:
            await killer.execute("SELECT pg_terminate_backend($1)", backend[0])
        finally:
            await killer.close()
        with pytest.raises(DatabaseUnavailableError):
            async with asyncio.timeout(10):
                await running
        # The pool recovers: the next statement gets a new connection.
        assert await database.read(select_one) == (1,)
    finally:
        await database.dispose()
