"""Admin commands of the `voxgate` command line, working on the database directly."""

import asyncio
import os
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, TypeVar

import typer
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from voxgate.billing.pricing import MICRO, format_usd
from voxgate.bootstrap import prepare_data_dir
from voxgate.services import Services, open_services
from voxgate.settings import Settings
from voxgate.store.database import MIGRATIONS, Database
from voxgate.store.workspaces import WorkspaceRecord
from voxgate.types import MicroUSD

ResultT = TypeVar("ResultT")

workspaces = typer.Typer(help="Create and list workspaces.", no_args_is_help=True)
keys = typer.Typer(help="Create, list and revoke workspace API keys.", no_args_is_help=True)
db = typer.Typer(
    help="The database schema: `voxgate serve` upgrades it at start; these run it alone.",
    no_args_is_help=True,
)

WorkspaceArg = Annotated[str, typer.Argument(help="Workspace id or name.")]


def run(work: Callable[[Services], Awaitable[ResultT]]) -> ResultT:
    settings = Settings()
    prepare_data_dir(settings)

    async def main() -> ResultT:
        services = await open_services(settings, dict(os.environ))
        try:
            return await work(services)
        finally:
            await services.aclose()

    return asyncio.run(main())


async def find_workspace(services: Services, name_or_id: str) -> WorkspaceRecord:
    found = await services.workspaces.get(name_or_id) or await services.workspaces.get_by_name(
        name_or_id
    )
    if found is None:
        typer.echo(f"no workspace '{name_or_id}'", err=True)
        raise typer.Exit(1)
    return found


async def show_balance(services: Services, workspace: WorkspaceRecord) -> None:
    wallet = await services.ledger.wallet(workspace.id)
    assert wallet is not None, "every workspace has a wallet"
    typer.echo(
        f"{workspace.id}  {workspace.name}  balance ${format_usd(MicroUSD(wallet.balance_micro_usd))}"
        f"  held ${format_usd(MicroUSD(wallet.held_micro_usd))}"
    )


@workspaces.command("create")
def create_workspace(
    name: Annotated[str, typer.Argument(help="A unique name.")],
    credit_usd: Annotated[Decimal, typer.Option(help="Opening credit in USD.")] = Decimal(0),
) -> None:
    """Create a workspace with its wallet."""

    async def work(services: Services) -> None:
        workspace = await services.workspaces.create(name, opening_credit=int(credit_usd * MICRO))
        await show_balance(services, workspace)

    run(work)


@workspaces.command("list")
def list_workspaces() -> None:
    """Every workspace with its balance."""

    async def work(services: Services) -> None:
        for workspace in await services.workspaces.list():
            await show_balance(services, workspace)

    run(work)


def credit(
    workspace: WorkspaceArg,
    amount_usd: Annotated[Decimal, typer.Argument(help="Positive adds, negative removes.")],
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")],
) -> None:
    """Add or remove credit; each change is a ledger entry with its reason."""

    async def work(services: Services) -> None:
        found = await find_workspace(services, workspace)
        amount = MicroUSD(int(amount_usd * MICRO))
        if amount > 0:
            await services.ledger.credit(found.id, amount, reason)
        else:
            await services.ledger.debit(found.id, MicroUSD(-amount), reason)
        await show_balance(services, found)

    run(work)


def balance(workspace: WorkspaceArg) -> None:
    """Show a workspace's balance and the credit held for requests in flight."""

    async def work(services: Services) -> None:
        await show_balance(services, await find_workspace(services, workspace))

    run(work)


@keys.command("create")
def create_key(
    workspace: WorkspaceArg,
    name: Annotated[str, typer.Option(help="A label for the key.")],
    rpm_limit: Annotated[int | None, typer.Option(help="Requests per minute.")] = None,
    concurrency_limit: Annotated[int | None, typer.Option(help="Requests at once.")] = None,
    spend_limit_usd: Annotated[Decimal | None, typer.Option(help="Total spend.")] = None,
) -> None:
    """Create a key; its secret is printed once and cannot be shown again."""

    async def work(services: Services) -> None:
        found = await find_workspace(services, workspace)
        record, secret = await services.keys.create_key(
            found.id,
            name,
            rpm_limit=rpm_limit,
            concurrency_limit=concurrency_limit,
            spend_limit_micro_usd=int(spend_limit_usd * MICRO) if spend_limit_usd else None,
        )
        typer.echo(f"{record.id}  {secret}")

    run(work)


@keys.command("list")
def list_keys(workspace: WorkspaceArg) -> None:
    """A workspace's keys by id and shown prefix (never the secret)."""

    async def work(services: Services) -> None:
        found = await find_workspace(services, workspace)
        for key in await services.keys.list(found.id):
            state = "revoked" if key.revoked_at else "active"
            typer.echo(f"{key.id}  {key.prefix}…  {key.name}  {state}")

    run(work)


@keys.command("revoke")
def revoke_key(
    workspace: WorkspaceArg, key_id: Annotated[str, typer.Argument(help="The key's id.")]
) -> None:
    """Revoke a key: it stops working at once."""

    async def work(services: Services) -> bool:
        found = await find_workspace(services, workspace)
        return await services.keys.revoke(found.id, key_id)

    if not run(work):
        typer.echo(f"no active key '{key_id}'", err=True)
        raise typer.Exit(1)
    typer.echo(f"{key_id} revoked")


@db.command("upgrade")
def upgrade_database() -> None:
    """Bring the schema to this version's head (safe to run from several hosts at once)."""
    settings = Settings()
    prepare_data_dir(settings)

    async def work() -> str | None:
        database = Database(settings.resolved_database_url, pool_size=1)
        try:
            await database.migrate()
            return await _revision(database)
        finally:
            await database.dispose()

    typer.echo(f"database at revision {asyncio.run(work())} (head {_head()})")


@db.command("current")
def current_revision() -> None:
    """Show the schema's revision and this version's head; exit 1 if they differ."""
    settings = Settings()
    prepare_data_dir(settings)

    async def work() -> str | None:
        database = Database(settings.resolved_database_url, pool_size=1)
        try:
            return await _revision(database)
        finally:
            await database.dispose()

    current, head = asyncio.run(work()), _head()
    typer.echo(f"database at revision {current or 'none'} (head {head})")
    if current != head:
        raise typer.Exit(1)


async def _revision(database: Database) -> str | None:
    try:
        async with database.reading() as connection:
            found = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:
        return None  # no schema yet
    return str(found) if found is not None else None


def _head() -> str | None:
    from alembic.script import ScriptDirectory  # ~0.3 s to import: only for these commands

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()
