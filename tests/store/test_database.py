from sqlalchemy import inspect

from voxgate.store.database import Database


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
