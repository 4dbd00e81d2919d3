"""The `voxgate` command line."""

import asyncio
import functools
import json
import os
import shlex
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from uvicorn.supervisors import Multiprocess

from voxgate import __version__, cli_admin, source_commit
from voxgate.bootstrap import DEFAULT_WORKSPACE, DevAccess, ensure_dev_access, prepare_data_dir
from voxgate.catalog.loader import CatalogError
from voxgate.http_server import ConnectionLimits, GuardedHttpProtocol, raise_open_file_limit
from voxgate.logs import logging_config
from voxgate.metrics import MULTIPROCESS_ENV
from voxgate.money import format_usd
from voxgate.services import open_services
from voxgate.settings import Settings, default_data_dir
from voxgate.types import MicroUSD

app = typer.Typer(
    help="voxgate: a self-hostable unified audio AI gateway. Every option can also be set "
    "by the VOXGATE_* environment variable shown beside it.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(cli_admin.workspaces, name="workspaces")
app.add_typer(cli_admin.keys, name="keys")
app.add_typer(cli_admin.db, name="db")
app.add_typer(cli_admin.usage, name="usage")
app.add_typer(cli_admin.budgets, name="budgets")
app.command()(cli_admin.credit)
app.command()(cli_admin.balance)

DEFAULTS = Settings.model_fields
SIM_SHUTDOWN_GRACE_SECONDS = 1


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"voxgate {__version__} (commit {source_commit()})")
        raise typer.Exit()


@app.callback()
def main_options(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="VOXGATE_DATA_DIR",
            show_envvar=True,
            metavar="DIR",
            help=f"The SQLite database, key pepper and model cache (default: {default_data_dir()},"
            " from $XDG_DATA_HOME/voxgate or ~/.local/share/voxgate).",
        ),
    ] = None,
    log_level: Annotated[
        str,
        typer.Option(
            envvar="VOXGATE_LOG_LEVEL",
            show_envvar=True,
            metavar="LEVEL",
            help="critical, error, warning, info or debug.",
        ),
    ] = str(DEFAULTS["log_level"].default),
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Show the version and the commit it was built from.",
        ),
    ] = False,
) -> None:
    # Worker processes and every command build their own Settings from the environment.
    if data_dir is not None:
        os.environ["VOXGATE_DATA_DIR"] = str(data_dir.expanduser().resolve())
    os.environ["VOXGATE_LOG_LEVEL"] = log_level


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(
            envvar="VOXGATE_HOST", show_envvar=True, metavar="ADDRESS", help="Interface to bind."
        ),
    ] = str(DEFAULTS["host"].default),
    port: Annotated[
        int,
        typer.Option(envvar="VOXGATE_PORT", show_envvar=True, metavar="PORT", help="Port to bind."),
    ] = int(DEFAULTS["port"].default),
    workers: Annotated[
        int | None,
        typer.Option(
            envvar="VOXGATE_WORKERS",
            show_envvar=True,
            metavar="N",
            help="Server processes (default: one per core with VOXGATE_REDIS_URL, else one).",
        ),
    ] = None,
    preload: Annotated[
        bool,
        typer.Option(
            envvar="VOXGATE_ENGINE_PRELOAD",
            show_envvar=True,
            help="Load the local models at start rather than on first use.",
        ),
    ] = bool(DEFAULTS["engine_preload"].default),
    shutdown_grace: Annotated[
        float,
        typer.Option(
            envvar="VOXGATE_SHUTDOWN_GRACE_SECONDS",
            show_envvar=True,
            metavar="SECONDS",
            help="On SIGTERM, how long requests in flight may take to finish before they are "
            "cancelled (a cut stream is charged for what it delivered).",
        ),
    ] = float(DEFAULTS["shutdown_grace_seconds"].default),
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(
            envvar="VOXGATE_SSL_CERTFILE",
            show_envvar=True,
            exists=True,
            dir_okay=False,
            metavar="PEM",
            help="Serve HTTPS and wss:// with this certificate chain (with --ssl-keyfile).",
        ),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None,
        typer.Option(
            envvar="VOXGATE_SSL_KEYFILE",
            show_envvar=True,
            exists=True,
            dir_okay=False,
            metavar="PEM",
            help="The private key of --ssl-certfile.",
        ),
    ] = None,
) -> None:
    """Run the gateway. The first start creates the 'default' workspace and shows its key once."""
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise typer.BadParameter("--ssl-certfile and --ssl-keyfile go together.")
    overrides = {
        "host": host,
        "port": port,
        "workers": workers,
        "engine_preload": preload,
        "shutdown_grace_seconds": shutdown_grace,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"VOXGATE_{name.upper()}"] = str(value)
    settings = Settings()
    raise_open_file_limit()
    config = _server_config(settings, ssl_certfile, ssl_keyfile)
    listening = _bind(config)
    prepare_data_dir(settings)
    try:
        access = asyncio.run(_prepare(settings))
    except CatalogError as error:
        typer.echo(f"voxgate: the catalog is invalid: {error}", err=True)
        raise typer.Exit(1) from error
    _print_welcome(settings, access)
    metrics_dir = _share_metrics(settings)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[listening]).run()
        else:
            uvicorn.Server(config).run(sockets=[listening])
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _server_config(
    settings: Settings, ssl_certfile: Path | None = None, ssl_keyfile: Path | None = None
) -> uvicorn.Config:
    limits = ConnectionLimits.from_settings(settings)
    return uvicorn.Config(
        "voxgate.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.server_workers,
        loop="uvloop",
        http=functools.partial(GuardedHttpProtocol, limits=limits),  # type: ignore[arg-type]
        log_config=logging_config(settings),
        log_level=settings.log_level,
        access_log=False,
        timeout_keep_alive=settings.keep_alive_timeout_seconds,  # type: ignore[arg-type]
        limit_concurrency=settings.max_connections,
        # Without it, one slow reader or hanging connection would hold a stop forever.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,  # type: ignore[arg-type]
        # The app applies X-Forwarded-* itself, after noting which peer sent them.
        proxy_headers=False,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )


def _bind(config: uvicorn.Config) -> socket.socket:
    """The listening socket, before anything is printed: a busy port fails here, plainly."""
    try:
        listening = socket.create_server((config.host, config.port), reuse_port=False)
    except OSError as error:
        typer.echo(f"voxgate: cannot listen on {config.host}:{config.port}: {error}", err=True)
        raise typer.Exit(1) from error
    listening.set_inheritable(True)
    return listening


def _share_metrics(settings: Settings) -> Path | None:
    """With several processes, their samples go to files that each scrape adds up, in a
    directory of this server's own, new and empty: another gateway on the same host or data
    volume neither wipes nor counts them, and worker pids that repeat from one container to the
    next name files in different directories. It is made under $PROMETHEUS_MULTIPROC_DIR if
    set, else the temporary directory, and removed when the server stops."""
    if settings.server_workers == 1:
        return None  # one process keeps its samples in memory
    parent = os.environ.get(MULTIPROCESS_ENV)
    if parent is not None:
        Path(parent).mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="voxgate-metrics-", dir=parent))
    os.environ[MULTIPROCESS_ENV] = str(directory)
    return directory


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
        # A test double has nothing worth draining; a hanging fault must not hold a stop.
        timeout_graceful_shutdown=SIM_SHUTDOWN_GRACE_SECONDS,
    )


async def _prepare(settings: Settings) -> DevAccess:
    services = await open_services(settings, dict(os.environ))
    try:
        return await ensure_dev_access(services)
    finally:
        await services.aclose()


def _print_welcome(settings: Settings, access: DevAccess) -> None:
    if access.created and access.key is not None:
        credit = format_usd(MicroUSD(settings.default_workspace_credit_micro_usd))
        typer.echo(
            f"voxgate: workspace '{DEFAULT_WORKSPACE}' created with ${credit} of credit "
            f"({access.workspace_id})"
        )
        typer.echo(f"voxgate: API key: {access.key}")
        typer.echo("voxgate: it is shown this once and stored only hashed; keep it now")
        typer.echo(f"voxgate: try it:\n{_curl(settings, access.key)}")
    else:
        typer.echo(f"voxgate: workspace '{DEFAULT_WORKSPACE}' ready ({access.workspace_id})")
        typer.echo(
            "voxgate: keys are shown only when created; make one with: "
            f"voxgate keys create {DEFAULT_WORKSPACE} --name NAME"
        )
    typer.echo(f"voxgate: data in {settings.data_dir}")
    workers = settings.server_workers
    typer.echo(f"voxgate: serving on {settings.base_url} with {workers} worker process(es)")
    if workers == 1 and not settings.redis_url and (os.cpu_count() or 1) > 1:
        typer.echo(
            "voxgate: set VOXGATE_REDIS_URL to run one worker per core: rate limits and "
            "circuit breakers are then shared by all of them"
        )


def _curl(settings: Settings, key: str) -> str:
    body = json.dumps(
        {"model": "local-tts", "input": "Hello from voxgate.", "voice": "alloy"},
        separators=(",", ":"),
    )
    return (
        f"curl -sS {settings.base_url}/api/v1/audio "
        f"-H {shlex.quote('Authorization: Bearer ' + key)} "
        "-H 'Content-Type: application/json' "
        f"-d {shlex.quote(body)}"
    )


def main() -> None:
    app()
