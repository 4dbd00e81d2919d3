"""First-run setup for a single host: a private data directory, the `default` workspace and,
when that workspace is created, one key whose secret is shown that once."""

import os
from dataclasses import dataclass
from pathlib import Path

from voxgate.services import Services
from voxgate.settings import Settings
from voxgate.store.workspaces import WorkspaceNameTaken

DEFAULT_WORKSPACE = "default"
# Where versions before 0.1 kept the first key's secret unhashed; removed at start.
LEGACY_KEY_FILE = "dev-key"
SQLITE_FILE = "voxgate.db"


@dataclass(frozen=True, slots=True)
class DevAccess:
    workspace_id: str
    created: bool
    key: str | None
    """The secret of the key made with the workspace; None on every later start."""


def prepare_data_dir(settings: Settings) -> None:
    """The data directory readable by its owner only (also one an older version made with the
    umask's mode), and the SQLite file created 0600 before the driver makes it with the umask's
    mode (its -wal and -shm files copy that mode)."""
    data_dir = settings.data_dir
    make_private_dir(data_dir)
    if settings.database_url is None:
        _create_private(data_dir / SQLITE_FILE)
    (data_dir / LEGACY_KEY_FILE).unlink(missing_ok=True)


def make_private_dir(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if directory.stat().st_uid == os.getuid():  # an operator's own directory is theirs to set
        directory.chmod(0o700)


async def ensure_dev_access(services: Services) -> DevAccess:
    """The default workspace, created on the first start with the opening credit and a key."""
    settings = services.settings
    workspace = await services.workspaces.get_by_name(DEFAULT_WORKSPACE)
    if workspace is not None:
        return DevAccess(workspace.id, created=False, key=None)
    try:
        workspace = await services.workspaces.create(
            DEFAULT_WORKSPACE, opening_credit=settings.default_workspace_credit_micro_usd
        )
    except WorkspaceNameTaken:
        # Another gateway on the same database made it a moment ago (several starting at once).
        taken = await services.workspaces.get_by_name(DEFAULT_WORKSPACE)
        assert taken is not None, "a taken name has its workspace"
        return DevAccess(taken.id, created=False, key=None)
    _, secret = await services.keys.create_key(workspace.id, "first key")
    return DevAccess(workspace.id, created=True, key=secret)


def _create_private(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)  # a file an older version made with the umask's mode
