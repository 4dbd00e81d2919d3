"""The database handle: an async engine, sessions, and migrations run at start."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from voxgate.store.sql import PostgresTx, SqliteTx, Tx

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it keeps two processes from migrating one PostgreSQL database at once.
MIGRATION_LOCK = 7_263_340_911
# How long a direct SQLite write waits for another process's writer before giving up.
SQLITE_BUSY_MILLISECONDS = 5000
SQLITE_WAL_LIMIT_BYTES = 64 * 1024 * 1024

T = TypeVar("T")
Work = Callable[[Tx], Awaitable[T]]


class Database:
    def __init__(
        self, url: str, *, connect_args: dict[str, Any] | None = None, pool_size: int = 10
    ) -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"connect_args": connect_args or {}}
        if self.is_sqlite:
            options["connect_args"].setdefault("timeout", 30)
        else:
            # No pre-ping: it costs three round trips per checkout; a connection found closed
            # is replaced in _postgres instead. Up to twice pool_size connections per process:
            # past that, requests wait their turn rather than exceed the server's limit.
            options.update(pool_size=pool_size, max_overflow=pool_size)
        self.engine = create_async_engine(url, **options)
        self._sqlite_writer = asyncio.Lock()
        self._sqlite_file = parsed.database or ":memory:"
        self._direct: dict[str, sqlite3.Connection] = {}
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction. SQLite has one writer: this process's writers queue on a lock
        rather than in SQLite's busy handler, whose sleeps would add up to tail latency."""
        if not self.is_sqlite:
            async with self.engine.begin() as connection:
                yield connection
            return
        async with self._sqlite_writer, self.engine.connect() as connection:
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                await connection.rollback()
                raise
            await connection.commit()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as connection:
            yield connection

    async def write(self, work: "Work[T]") -> T:
        """Run `work` in one transaction on the bare driver (the per-request path)."""
        if not self.is_sqlite:
            async with self._postgres() as connection, connection.transaction():
                return await work(PostgresTx(connection))
        async with self._sqlite_writer:
            # Nothing below awaits a real suspension: the transaction runs start to finish
            # before any other task, so holding the lock cannot stall the loop for long.
            connection = self._sqlite("writer")
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = await work(SqliteTx(connection))
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result

    async def checkpoint(self) -> None:
        """Move the write-ahead log into the database file (SQLite; elsewhere nothing to do).

        PASSIVE: it copies what it can without waiting for, or blocking, readers and writers.
        """
        if self.is_sqlite:
            await asyncio.to_thread(_checkpoint, self._sqlite_file)

    async def read(self, work: "Work[T]") -> T:
        """Run `work` outside a transaction on the bare driver."""
        if not self.is_sqlite:
            async with self._postgres() as connection:
                return await work(PostgresTx(connection))
        return await work(SqliteTx(self._sqlite("reader")))

    def _sqlite(self, role: str) -> sqlite3.Connection:
        connection = self._direct.get(role)
        if connection is None:
            connection = sqlite3.connect(
                self._sqlite_file, isolation_level=None, check_same_thread=False
            )
            _sqlite_pragmas(connection, None)
            connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MILLISECONDS}")
            # A checkpoint copies pages into the database file and syncs it: far too slow for
            # the loop's thread, so `checkpoint` does it on a worker thread instead.
            connection.execute("PRAGMA wal_autocheckpoint=0")
            connection.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_LIMIT_BYTES}")
            self._direct[role] = connection
        return connection

    @asynccontextmanager
    async def _postgres(self) -> AsyncIterator[Any]:
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            if driver is None or driver.is_closed():
                # The server dropped it while it sat in the pool: take a fresh one.
                await connection.invalidate()
                async with self._postgres() as fresh:
                    yield fresh
                return
            yield driver

    async def migrate(self) -> None:
        if await self._at_head():
            return
        async with self.transaction() as connection:
            if not self.is_sqlite:
                await connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            await connection.run_sync(_upgrade)

    async def _at_head(self) -> bool:
        """Whether the schema is current; then Alembic (~10 MB, ~0.3 s) need not load."""
        try:
            async with self.reading() as connection:
                current = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        except DBAPIError:
            return False
        return bool(current == _head_revision())

    async def ping(self) -> bool:
        try:
            async with self.reading() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        for connection in self._direct.values():
            connection.close()
        self._direct.clear()
        await self.engine.dispose()


def _head_revision() -> str:
    # Each revision's file is named after it (0003_realtime_secrets.py holds revision "0003").
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*.py"))


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _checkpoint(path: str) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MILLISECONDS}")
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        connection.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit mode so that BEGIN IMMEDIATE above is ours to issue.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "busy_timeout=30000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
