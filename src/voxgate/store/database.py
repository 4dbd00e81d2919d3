"""The database handle: an async engine, sessions, and migrations run at start."""

import asyncio
import os
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
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
LOWEST_PRIORITY = 19
# What asyncpg raises when the server or the link goes away under a statement: the socket, a
# closed connection, class 08 (connection exception), 57 (operator intervention: shutdown,
# cannot connect now) and 53 (insufficient resources: too many connections, disk full).
CONNECTION_LOST: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)

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
            # The per-request path has a bare asyncpg pool of pool_size connections (see
            # _postgres); SQLAlchemy's pool serves the rest (migrations, admin, listings) with as
            # many again at most. Past that, requests wait their turn rather than exceed the
            # server's limit. Off the per-request path a pre-ping (one round trip) is affordable,
            # and it replaces connections the server dropped while they sat in the pool.
            kept = max(1, pool_size // 2)
            options.update(
                pool_size=kept, max_overflow=max(0, pool_size - kept), pool_pre_ping=True
            )
        self.engine = create_async_engine(url, **options)
        self._pool_size = pool_size
        self._asyncpg_dsn = (
            "" if self.is_sqlite else parsed.set(drivername="postgresql").render_as_string(False)
        )
        self._asyncpg_options = connect_args or {}
        self._pool: Any = None
        self._pool_opening = asyncio.Lock()
        self._sqlite_writer = asyncio.Lock()
        self._sqlite_file = parsed.database or ":memory:"
        self._direct: dict[str, sqlite3.Connection] = {}
        self._checkpointer = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sqlite-checkpoint", initializer=_lowest_priority
        )
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

    async def warm_up(self) -> None:
        """Open what the request path reads and writes through (SQLite's reader and writer,
        or a first pooled PostgreSQL connection), so the first request after ready opens
        nothing."""
        if self.is_sqlite:
            self._sqlite("reader")
            self._sqlite("writer")
            return
        async with self._postgres():
            pass

    @property
    def warm(self) -> bool:
        """Whether the request path's connections are open."""
        if self.is_sqlite:
            return {"reader", "writer"} <= set(self._direct)
        return self._pool is not None

    async def checkpoint(self) -> None:
        """Move the write-ahead log into the database file (SQLite; elsewhere nothing to do).

        PASSIVE: it copies what it can without waiting for, or blocking, readers and writers.
        It runs on a thread of its own at the lowest priority: on a busy core, copying pages
        would otherwise take the event loop's turn for milliseconds, once a second, and show
        in every request that ran meanwhile.
        """
        if self.is_sqlite:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._checkpointer, self._checkpoint_now)

    def _checkpoint_now(self) -> None:
        connection = self._direct.get("checkpointer")
        if connection is None:
            connection = sqlite3.connect(
                self._sqlite_file, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MILLISECONDS}")
            self._direct["checkpointer"] = connection
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

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
        """A connection of the bare asyncpg pool: a check-out through SQLAlchemy cost more than
        the statements (a greenlet and a reset round trip each time)."""
        try:
            pool = self._pool if self._pool is not None else await self._open_pool()
            connection = await pool.acquire()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        try:
            yield connection
        except CONNECTION_LOST as exc:
            # The server went away mid-statement (a restart, a failover, a killed backend).
            raise DatabaseUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            await _give_back(pool, connection)

    async def _open_pool(self) -> Any:
        async with self._pool_opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._asyncpg_dsn,
                    min_size=0,  # opened on demand: no background reconnects to log
                    max_size=self._pool_size,
                    reset=_keep_session,
                    **self._asyncpg_options,
                )
        return self._pool

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
        # A checkpoint under way finishes before its connection closes.
        await asyncio.get_running_loop().run_in_executor(None, self._checkpointer.shutdown)
        for connection in self._direct.values():
            connection.close()
        self._direct.clear()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self.engine.dispose()


async def _give_back(pool: Any, connection: Any) -> None:
    try:
        await pool.release(connection)
    except CONNECTION_LOST:
        connection.terminate()  # broken: the pool opens a new one when it needs one


class DatabaseUnavailableError(Exception):
    """No connection to PostgreSQL could be had (down, restarting, refusing connections)."""


async def _keep_session(connection: Any) -> None:
    """What the pool does to a connection given back, beyond asyncpg's own rollback of an open
    transaction: nothing. The per-request path sets no session state (no SET, LISTEN, cursor or
    advisory lock), and asyncpg's default reset would cost a round trip every time."""


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


def _lowest_priority() -> None:
    """The calling thread yields its core to any other (Linux sets niceness per thread)."""
    if sys.platform == "linux":
        with suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)


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
