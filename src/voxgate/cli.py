"""The `voxgate` command line."""

import asyncio
import json
import os
import shlex
from typing import Annotated

import typer
import uvicorn

from voxgate import cli_admin
from voxgate.billing.pricing import format_usd
from voxgate.bootstrap import DevAccess, ensure_dev_access
from voxgate.services import open_services
from voxgate.settings import Settings
from voxgate.types import MicroUSD

app = typer.Typer(help="voxgate: a self-hostable unified audio AI gateway.", no_args_is_help=True)


app.add_typer(cli_admin.workspaces, name="workspaces")
app.add_typer(cli_admin.keys, name="keys")
app.command()(cli_admin.credit)
app.command()(cli_admin.balance)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes (default: one per core with Redis, else one)."),
    ] = None,
    preload: Annotated[
        bool | None, typer.Option(help="Load the local models at start (default: yes).")
    ] = None,
) -> None:
    """Run the gateway; on first start create the default workspace and a development key."""
    # Worker processes build their own Settings, so options travel through the environment.
    overrides = {"host": host, "port": port, "workers": workers, "engine_preload": preload}
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"VOXGATE_{name.upper()}"] = str(value)
    settings = Settings()
    access = asyncio.run(_prepare(settings))
    _print_welcome(settings, access)
    uvicorn.run(
        "voxgate.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.server_workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
    )


@app.command()
def sim(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 9100,
    fast: Annotated[bool, typer.Option(help="Fixed audio and text instead of the engine.")] = False,
) -> None:
    """Run the provider simulator: OpenAI, Azure OpenAI and Gemini audio APIs with faults."""
    os.environ["VOXGATE_SIM_FAST"] = "1" if fast else "0"
    typer.echo(
        f"voxgate sim: OpenAI at http://{host}:{port}/v1, Azure OpenAI at "
        f"http://{host}:{port}, Gemini at http://{host}:{port}/v1beta"
    )
    uvicorn.run(
        "voxgate.simulator.app:create_simulator_app_from_env",
        factory=True,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
    )


async def _prepare(settings: Settings) -> DevAccess:
    services = await open_services(settings, dict(os.environ))
    try:
        return await ensure_dev_access(services)
    finally:
        await services.aclose()


def _print_welcome(settings: Settings, access: DevAccess) -> None:
    body = json.dumps(
        {"model": "local-tts", "input": "Hello from voxgate.", "voice": "alloy"},
        separators=(",", ":"),
    )
    curl = (
        f"curl -sS {settings.base_url}/api/v1/audio "
        f"-H {shlex.quote('Authorization: Bearer ' + access.key)} "
        "-H 'Content-Type: application/json' "
        f"-d {shlex.quote(body)}"
    )
    credit = format_usd(MicroUSD(settings.default_workspace_credit_micro_usd))
    state = f"created with ${credit} of credit" if access.created else "ready"
    typer.echo(f"voxgate: workspace 'default' {state} ({access.workspace_id})")
    typer.echo(f"voxgate: API key: {access.key}")
    typer.echo(f"voxgate: try it:\n{curl}")
    workers = settings.server_workers
    typer.echo(f"voxgate: serving on {settings.base_url} with {workers} worker process(es)")
    if workers == 1 and not settings.redis_url and (os.cpu_count() or 1) > 1:
        typer.echo(
            "voxgate: set VOXGATE_REDIS_URL to run one worker per core: rate limits and "
            "circuit breakers are then shared by all of them"
        )


def main() -> None:
    app()
