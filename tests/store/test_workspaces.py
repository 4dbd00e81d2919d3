"""Workspace names are unique: a taken name is its own error, never taken for an outage."""

import asyncio

import pytest

from tests.database_fixtures import database
from voxgate.store.database import Database
from voxgate.store.workspaces import WorkspaceNameTaken, Workspaces

__all__ = ["database"]


async def test_a_taken_name_is_refused_by_name(database: Database) -> None:
    workspaces = Workspaces(database)
    await workspaces.create("acme", opening_credit=100)
    with pytest.raises(WorkspaceNameTaken):
        await workspaces.create("acme")
    assert [w.name for w in await workspaces.list()] == ["acme"]


async def test_two_creations_racing_for_a_name_leave_one(database: Database) -> None:
    """Both pass any lookup first; the unique index decides, and the loser hears why."""
    workspaces = Workspaces(database)
    results = await asyncio.gather(
        *(workspaces.create("racing") for _ in range(4)), return_exceptions=True
    )
    assert sum(isinstance(result, WorkspaceNameTaken) for result in results) == 3
    assert [w.name for w in await workspaces.list()] == ["racing"]
