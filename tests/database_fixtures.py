"""The same store and billing tests on SQLite and on PostgreSQL (127.0.0.1:5432, database test).

The migrations run once per session on each: SQLite into a template file of which each test
(and each in-process gateway's `data_dir`) gets a copy; PostgreSQL into a schema of this run's
own (so parallel runs never see each other's rows) whose rows are deleted before each test.
"""

import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

from voxgate.store.database import Database

POSTGRES_URL = "postgresql+asyncpg://root@127.0.0.1:5432/test"
SQLITE_FILE = "voxgate.db"


@dataclass(frozen=True)
class SqliteTemplate:
    path: Path

    def copy_into(self, directory: Path) -> Path:
        """`directory` with a copy of the template where a gateway keeps its database."""
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, directory / SQLITE_FILE)
        return directory

    async def fresh(self, directory: Path) -> Database:
        return Database(f"sqlite+aiosqlite:///{self.copy_into(directory) / SQLITE_FILE}")


@dataclass(frozen=True)
class PostgresSchema:
    name: str
    tables: tuple[str, ...] = ()

    def open(self) -> Database:
        return Database(POSTGRES_URL, connect_args={"server_settings": {"search_path": self.name}})

    async def fresh(self, directory: Path) -> Database:
        db = self.open()
        async with db.transaction() as connection:
            for table in self.tables:  # DELETE: far quicker than TRUNCATE on a few rows
                await connection.execute(text(f"DELETE FROM {table}"))
        return db


async def sqlite_template(directory: Path) -> SqliteTemplate:
    template = SqliteTemplate(directory / SQLITE_FILE)
    db = Database(f"sqlite+aiosqlite:///{template.path}")
    await db.migrate()
    await db.dispose()
    # Closing the last connection moved the write-ahead log into the file: a copy is whole.
    assert not template.path.with_name(f"{SQLITE_FILE}-wal").exists()
    return template


def referring_first(connection: Connection) -> tuple[str, ...]:
    """The schema's tables but Alembic's, each before the tables its foreign keys refer to."""
    reflected = MetaData()
    reflected.reflect(connection)
    return tuple(
        table.name for table in reversed(reflected.sorted_tables) if table.name != "alembic_version"
    )


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[PostgresSchema]:
    schema = PostgresSchema(f"vg_test_{secrets.token_hex(6)}")
    admin = create_async_engine(POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA {schema.name}"))
    try:
        db = schema.open()
        await db.migrate()
        async with db.reading() as connection:
            tables = await connection.run_sync(referring_first)
        await db.dispose()
        yield PostgresSchema(schema.name, tables)
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA {schema.name} CASCADE"))
        await admin.dispose()


@pytest.fixture(scope="session")
async def sqlite_migrated(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return await sqlite_template(tmp_path_factory.mktemp("migrated"))


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def migrated(
    request: pytest.FixtureRequest, sqlite_migrated: SqliteTemplate
) -> AsyncIterator[SqliteTemplate | PostgresSchema]:
    """The schema at head, migrated once per session on each database."""
    if request.param == "sqlite":
        yield sqlite_migrated
        return
    async with postgres_schema() as schema:
        yield schema


@pytest.fixture
async def database(
    migrated: SqliteTemplate | PostgresSchema, tmp_path: Path
) -> AsyncIterator[Database]:
    """A migrated database with no rows, the test's own."""
    db = await migrated.fresh(tmp_path)
    try:
        await db.migrate()  # at head already: only the check a restarted gateway makes
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def data_dir(sqlite_migrated: SqliteTemplate, tmp_path: Path) -> Path:
    """A gateway's data directory whose database was migrated, as after its first start: the
    app's start finds the schema at head (a start that migrates is tested in the store tests,
    `test_bootstrap.py` and end to end)."""
    return sqlite_migrated.copy_into(tmp_path)
