"""Admin commands of the `voxgate` command line, working on the database directly."""

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar, cast

import typer
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from voxgate.bootstrap import prepare_data_dir
from voxgate.money import MICRO, format_usd
from voxgate.services import Services, open_services
from voxgate.settings import Settings
from voxgate.store.budgets import BudgetLimits, Period
from voxgate.store.database import MIGRATIONS, Database
from voxgate.store.keys import SessionCapLimits
from voxgate.store.workspaces import WorkspaceRecord
from voxgate.types import MicroUSD

ResultT = TypeVar("ResultT")

workspaces = typer.Typer(help="Create and list workspaces.", no_args_is_help=True)
keys = typer.Typer(help="Create, list and revoke workspace API keys.", no_args_is_help=True)
db = typer.Typer(
    help="The database schema: `voxgate serve` upgrades it at start; these run it alone.",
    no_args_is_help=True,
)

usage = typer.Typer(help="What the usage records add up to.", no_args_is_help=True)
budgets = typer.Typer(
    help="Spend, requests and audio per day or month, per workspace or key.",
    no_args_is_help=True,
)

WorkspaceArg = Annotated[str, typer.Argument(help="Workspace id or name.")]
SessionCapOption = Annotated[
    Decimal | None, typer.Option(help="What one realtime session may cost, in USD.")
]
ResponseCapOption = Annotated[
    Decimal | None, typer.Option(help="What one realtime response may cost, in USD.")
]
PolicyOption = Annotated[
    str | None, typer.Option(help="Past a cap: trim (drop the oldest turns) or refuse.")
]


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


@workspaces.command("speech-cache")
def speech_cache(
    workspace: WorkspaceArg,
    enabled: Annotated[
        bool, typer.Option("--on/--off", help="Turn the workspace's speech cache on or off.")
    ],
) -> None:
    """Answer a speech request the workspace asked before from the speech cache (at the
    cache price, without a provider call), or stop; running gateways see it within
    VOXGATE_KEY_TRUST_SECONDS."""

    async def work(services: Services) -> WorkspaceRecord:
        found = await find_workspace(services, workspace)
        await services.set_speech_cache(found.id, enabled)
        return found

    found = run(work)
    typer.echo(f"{found.id}  {found.name}  speech cache {'on' if enabled else 'off'}")


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
    max_session_cost_usd: SessionCapOption = None,
    max_response_cost_usd: ResponseCapOption = None,
    cap_policy: PolicyOption = None,
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
            caps=cap_limits(max_session_cost_usd, max_response_cost_usd, cap_policy),
        )
        typer.echo(f"{record.id}  {secret}")

    run(work)


@keys.command("caps")
def key_caps(
    workspace: WorkspaceArg,
    key_id: Annotated[str, typer.Argument(help="The key's id.")],
    max_session_cost_usd: SessionCapOption = None,
    max_response_cost_usd: ResponseCapOption = None,
    cap_policy: PolicyOption = None,
) -> None:
    """Set a key's realtime cost caps for the sessions it opens from now on (a cap left out
    is lifted)."""

    async def work(services: Services) -> bool:
        found = await find_workspace(services, workspace)
        caps = cap_limits(max_session_cost_usd, max_response_cost_usd, cap_policy)
        return await services.keys.set_caps(found.id, key_id, caps)

    if not run(work):
        typer.echo(f"no key '{key_id}'", err=True)
        raise typer.Exit(1)
    typer.echo(f"{key_id} caps set")


def cap_limits(
    session_usd: Decimal | None, response_usd: Decimal | None, policy: str | None
) -> SessionCapLimits:
    for name, amount in (("session", session_usd), ("response", response_usd)):
        if amount is not None and (amount < 0 or amount * MICRO != int(amount * MICRO)):
            typer.echo(f"the {name} cap must be US dollars, at most six decimals", err=True)
            raise typer.Exit(2)
    if policy not in (None, "trim", "refuse"):
        typer.echo("the cap policy is trim or refuse", err=True)
        raise typer.Exit(2)
    return SessionCapLimits(
        None if session_usd is None else int(session_usd * MICRO),
        None if response_usd is None else int(response_usd * MICRO),
        policy,
    )


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


@usage.command("margins")
def margins(
    since: Annotated[
        datetime | None, typer.Option(help="From this UTC time (ISO 8601), inclusive.")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Up to this UTC time (ISO 8601), exclusive.")
    ] = None,
) -> None:
    """Per model and route: requests, charged, the providers' cost, the margin, flagged charges."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return await services.usage.margins(since=_utc(since), until=_utc(until))

    typer.echo(
        "model\troute\trequests\tcharged_usd\tprovider_cost_usd\tmargin_usd\t"
        "overruns\testimated\tmismatches"
    )
    for row in run(work):
        typer.echo(
            "\t".join(
                str(value)
                for value in (
                    row["model"],
                    row["route"],
                    row["requests"],
                    format_usd(MicroUSD(row["charged_micro_usd"])),
                    format_usd(MicroUSD(row["provider_cost_micro_usd"])),
                    format_usd(MicroUSD(row["margin_micro_usd"])),
                    row["provider_overrun_count"],
                    row["estimated_count"],
                    row["usage_mismatch_count"],
                )
            )
        )


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@budgets.command("set")
def set_budget(
    workspace: WorkspaceArg,
    period: Annotated[str, typer.Option(help="day or month (in VOXGATE_BUDGET_TIMEZONE).")],
    key: Annotated[str | None, typer.Option(help="A key's id; none: the workspace.")] = None,
    spend_usd: Annotated[Decimal | None, typer.Option(help="Spend per period.")] = None,
    requests: Annotated[int | None, typer.Option(help="Requests per period.")] = None,
    audio_minutes: Annotated[Decimal | None, typer.Option(help="Audio per period.")] = None,
) -> None:
    """Add a budget to a workspace (or one of its keys)."""
    if period not in ("day", "month"):
        typer.echo("--period must be day or month", err=True)
        raise typer.Exit(2)
    if (spend_usd, requests, audio_minutes) == (None, None, None):
        typer.echo("give --spend-usd, --requests or --audio-minutes", err=True)
        raise typer.Exit(2)
    limits = BudgetLimits(
        spend_limit_micro_usd=None if spend_usd is None else int(spend_usd * MICRO),
        request_limit=requests,
        audio_seconds_limit=None if audio_minutes is None else int(audio_minutes * 60),
    )

    async def work(services: Services) -> dict[str, Any]:
        found = await find_workspace(services, workspace)
        if key is not None and key not in {k.id for k in await services.keys.list(found.id)}:
            typer.echo(f"no key '{key}' in workspace '{workspace}'", err=True)
            raise typer.Exit(1)
        return await services.budgets.create(found.id, cast(Period, period), limits, key_id=key)

    typer.echo(run(work)["id"])


@budgets.command("list")
def list_budgets(workspace: WorkspaceArg) -> None:
    """A workspace's budgets and their use in the current period."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return await services.budgets.all((await find_workspace(services, workspace)).id)

    for budget in run(work):
        use, spend, audio = (
            budget["current_period"],
            budget["spend_limit_micro_usd"],
            budget["audio_seconds_limit"],
        )
        spend_limit = "-" if spend is None else format_usd(MicroUSD(spend))
        audio_limit = "-" if audio is None else f"{audio / 60:g}"
        typer.echo(
            f"{budget['id']}  {budget['period']}  key={budget['key_id'] or '-'}  "
            f"spend {format_usd(MicroUSD(use['spent_micro_usd']))}/{spend_limit}  "
            f"requests {use['requests']}/{budget['request_limit'] or '-'}  "
            f"audio {use['audio_milliseconds'] / 60_000:.2f}/{audio_limit} min"
        )


@budgets.command("remove")
def remove_budget(
    workspace: WorkspaceArg, budget_id: Annotated[str, typer.Argument(help="The budget's id.")]
) -> None:
    """Lift a budget."""

    async def work(services: Services) -> bool:
        return await services.budgets.delete(
            (await find_workspace(services, workspace)).id, budget_id
        )

    if not run(work):
        typer.echo(f"no budget '{budget_id}'", err=True)
        raise typer.Exit(1)
    typer.echo(f"{budget_id} removed")
