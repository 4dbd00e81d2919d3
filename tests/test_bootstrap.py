"""First-run setup when several gateways start together on one database."""

import asyncio
from pathlib import Path

from voxgate.bootstrap import ensure_dev_access, prepare_data_dir
from voxgate.services import open_services
from voxgate.settings import Settings


async def test_gateways_starting_together_make_one_workspace_and_show_one_key(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, engine_preload=False, key_pepper="one-pepper")
    prepare_data_dir(settings)
    services = [await open_services(settings, {}) for _ in range(3)]
    try:
        accesses = await asyncio.gather(*(ensure_dev_access(each) for each in services))
        again = await ensure_dev_access(services[0])
        workspaces = await services[0].workspaces.list()
    finally:
        for each in services:
            await each.aclose()
    assert [workspace.name for workspace in workspaces] == ["default"]
    assert len({access.workspace_id for access in accesses}) == 1
    assert [access.created for access in accesses].count(True) == 1
    assert sum(access.key is not None for access in accesses) == 1
    assert again.key is None and not again.created
