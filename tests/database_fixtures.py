"""The same store and billing tests on SQLite and on PostgreSQL (127.0.0.1:5432, database test).

Each PostgreSQL test gets a fresh schema, so parallel runs never see each other's rows.
"""

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from voxgate.store.database import Database

POSTGRES_URL = "postgresql+asyncpg://root@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}")
        await db.migrate()
        yield db
        await db.dispose()
        return
    schema = f"vg_test_{secrets.token_hex(6)}"
    admin = create_async_engine(POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA {schema}"))
    db = Database(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        await db.migrate()
        yield db
    finally:
        await db.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()
