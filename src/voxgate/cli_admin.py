"""Admin commands of the `voxgate` command line, working on the database directly."""

import asyncio
import os
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, TypeVar

import typer

from voxgate.billing.pricing import MICRO, format_usd
from voxgate.services import Services, open_services
from voxgate.settings import Settings
from voxgate.store.workspaces import WorkspaceRecord
from voxgate.types import MicroUSD

ResultT = TypeVar("ResultT")

workspaces = typer.Typer(help="Create and list workspaces.", no_args_is_help=True)
keys = typer.Typer(help="Create, list and revoke workspace API keys.", no_args_is_help=True)

WorkspaceArg = Annotated[str, typer.Argument(help="Workspace id or name.")]


def run(work: Callable[[Services], Awaitable[ResultT]]) -> ResultT:
    async def main() -> ResultT:
        services = await open_services(Settings(), dict(os.environ))
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
    name: str, credit_usd: Annotated[Decimal, typer.Option(help="Opening credit.")] = Decimal(0)
) -> None:
    async def work(services: Services) -> None:
        workspace = await services.workspaces.create(name, opening_credit=int(credit_usd * MICRO))
        await show_balance(services, workspace)

    run(work)


@workspaces.command("list")
def list_workspaces() -> None:
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
    async def work(services: Services) -> None:
        found = await find_workspace(services, workspace)
        for key in await services.keys.list(found.id):
            state = "revoked" if key.revoked_at else "active"
            typer.echo(f"{key.id}  {key.prefix}…  {key.name}  {state}")

    run(work)


@keys.command("revoke")
def revoke_key(workspace: WorkspaceArg, key_id: str) -> None:
    async def work(services: Services) -> bool:
        found = await find_workspace(services, workspace)
        return await services.keys.revoke(found.id, key_id)

    if not run(work):
        typer.echo(f"no active key '{key_id}'", err=True)
        raise typer.Exit(1)
    typer.echo(f"{key_id} revoked")
