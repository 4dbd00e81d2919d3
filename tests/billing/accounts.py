"""Funded workspaces with a known key, for the billing tests."""

from sqlalchemy import insert, select

from voxgate.store.database import Database
from voxgate.store.tables import ApiKey
from voxgate.store.workspaces import Workspaces

KEY_ID = "key_test"


async def funded(database: Database, micro_usd: int, spend_limit: int | None = None) -> str:
    """A workspace with `micro_usd` of credit and the key `KEY_ID`."""
    workspace = await Workspaces(database).create("acme", opening_credit=micro_usd)
    async with database.transaction() as connection:
        await connection.execute(
            insert(ApiKey).values(
                id=KEY_ID,
                workspace_id=workspace.id,
                name="test",
                prefix="vg_live_test",
                secret_hash=f"hash-{workspace.id}",
                spend_limit_micro_usd=spend_limit,
            )
        )
    return workspace.id


async def key_counters(database: Database) -> tuple[int, int]:
    """The key's (spent, held) micro-USD."""
    async with database.reading() as connection:
        row = (
            await connection.execute(
                select(ApiKey.spent_micro_usd, ApiKey.held_micro_usd).where(ApiKey.id == KEY_ID)
            )
        ).one()
    return row[0], row[1]
