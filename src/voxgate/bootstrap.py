"""First-run setup for a single host: the `default` workspace and a development key."""

from dataclasses import dataclass

from voxgate.services import Services, write_private_file

DEFAULT_WORKSPACE = "default"
DEV_KEY_FILE = "dev-key"


@dataclass(frozen=True, slots=True)
class DevAccess:
    workspace_id: str
    key: str
    created: bool


async def ensure_dev_access(services: Services) -> DevAccess:
    """The default workspace (created with the opening credit) and a key that works for it.

    Keys are stored hashed, so the development key's secret is kept in a private file in the
    data dir to be shown again on the next start.
    """
    settings = services.settings
    workspace = await services.workspaces.get_by_name(DEFAULT_WORKSPACE)
    created = workspace is None
    if workspace is None:
        workspace = await services.workspaces.create(
            DEFAULT_WORKSPACE, opening_credit=settings.default_workspace_credit_micro_usd
        )
    key_path = settings.data_dir / DEV_KEY_FILE
    if key_path.exists():
        secret = key_path.read_text().strip()
        principal = await services.keys.authenticate(secret)
        if principal is not None and principal.workspace_id == workspace.id:
            return DevAccess(workspace.id, secret, created)
        key_path.unlink()
    _, secret = await services.keys.create_key(workspace.id, "development")
    write_private_file(key_path, secret)
    return DevAccess(workspace.id, secret, created)
