"""Added latency at concurrency 1: through the gateway minus calling the provider directly,
for every kind of request the gateway serves over HTTP.

The provider is the replay of the simulator's fast-mode answers (bench/upstream.py). Billing
is on: every gateway request authenticates, validates, holds, calls, settles and writes its
usage record. The gateway has core 0 to itself; the provider and wrk share core 1. A bare
forwarder (bench/forwarder.py) on the same core gives the floor: what one Python hop costs here.
"""

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.gateway_process import (
    free_port,
    start_gateway,
    stop_gateway,
    wait_until_ready,
)

from bench.processes import GATEWAY_CPUS, HARNESS_CPUS, pin
from bench.requests import (
    CHAT,
    SPEECH,
    STREAMED_CHAT,
    STREAMED_SPEECH,
    UNIFIED_SPEECH,
    transcription_upload,
)
from bench.upstream import Upstream
from bench.wrk import Body, WrkResult, run_wrk

POSTGRES_SERVER = "postgresql+asyncpg://root@127.0.0.1:5432"
# The row of the bare forwarder: what one Python hop costs on this machine, before any gateway.
FLOOR = "none: bare forwarder"
UNIFIED_SPEECH_KIND = "speech (POST /api/v1/audio, tts)"
# Nine rows of a warm-up and two runs each: about two and a half minutes in all.
SECONDS = 6
WARM_UP_SECONDS = 2


@dataclass(frozen=True)
class RequestKind:
    """One kind of request the gateway serves over HTTP, and its equivalent at the simulator."""

    name: str
    direct_path: str
    direct_body: Body
    gateway_path: str
    gateway_body: Body
    # Also measured on PostgreSQL; the rest on SQLite only, to keep the run short.
    every_database: bool


def request_kinds() -> list[RequestKind]:
    upload = transcription_upload()
    speech, chat = "/v1/audio/speech", "/v1/chat/completions"
    return [
        RequestKind(UNIFIED_SPEECH_KIND, speech, SPEECH, "/api/v1/audio", UNIFIED_SPEECH, True),
        RequestKind(f"chat (POST {chat})", chat, CHAT, chat, CHAT, True),
        RequestKind(f"speech (POST {speech}, pcm)", speech, SPEECH, speech, SPEECH, False),
        RequestKind(
            f"streamed speech (POST {speech}, SSE)",
            speech,
            STREAMED_SPEECH,
            speech,
            STREAMED_SPEECH,
            False,
        ),
        RequestKind(
            f"streamed chat (POST {chat}, stream)", chat, STREAMED_CHAT, chat, STREAMED_CHAT, False
        ),
        RequestKind(
            "transcription (POST /v1/audio/transcriptions, WAV)",
            "/v1/audio/transcriptions",
            upload,
            "/v1/audio/transcriptions",
            upload,
            False,
        ),
    ]


@dataclass(frozen=True)
class Overhead:
    backend: str
    request: str
    direct: WrkResult
    gateway: WrkResult

    @property
    def added_p50_ms(self) -> float:
        return self.gateway.p50_ms - self.direct.p50_ms

    @property
    def added_p99_ms(self) -> float:
        return self.gateway.p99_ms - self.direct.p99_ms

    @property
    def gateway_spread(self) -> float:
        """The gateway's p99 over its p50: how far its tail stands from its usual answer."""
        return self.gateway.p99_ms / self.gateway.p50_ms


def measure_overhead(sim: Upstream, seconds: float = SECONDS) -> list[Overhead]:
    database = f"vg_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin_sql(f"CREATE DATABASE {database}"))
    try:
        backends = {"SQLite": None, "PostgreSQL": f"{POSTGRES_SERVER}/{database}"}
        return [
            _forwarder(sim, seconds),
            *(
                row
                for backend, url in backends.items()
                for row in _backend(sim, backend, url, seconds)
            ),
        ]
    finally:
        asyncio.run(_admin_sql(f"DROP DATABASE {database} WITH (FORCE)"))


def _backend(
    sim: Upstream, backend: str, database_url: str | None, seconds: float
) -> list[Overhead]:
    env = {
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": f"{sim.base_url}/v1",
        "VOXGATE_ENGINE_PRELOAD": "false",
        **({"VOXGATE_DATABASE_URL": database_url} if database_url else {}),
    }
    kinds = [kind for kind in request_kinds() if database_url is None or kind.every_database]
    with tempfile.TemporaryDirectory() as data_dir:
        process, gateway = start_gateway(Path(data_dir), env)
        try:
            pin(process.pid, GATEWAY_CPUS)
            key = gateway.new_workspace(f"bench-{secrets.token_hex(4)}", "100000.00")
            auth = {"Authorization": f"Bearer {key}"}
            return [
                Overhead(
                    backend,
                    kind.name,
                    *_direct_and_through(
                        sim,
                        (f"{sim.base_url}{kind.direct_path}", kind.direct_body),
                        (f"{gateway.base_url}{kind.gateway_path}", kind.gateway_body, auth),
                        seconds,
                    ),
                )
                for kind in kinds
            ]
        finally:
            stop_gateway(process)


def _forwarder(sim: Upstream, seconds: float) -> Overhead:
    """The bare forwarder (bench/forwarder.py) on the gateway's core, for the floor."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.forwarder:app", "--port", str(port)]
    options = [
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "VOXGATE_BENCH_UPSTREAM": f"{sim.base_url}/v1"}
    process = subprocess.Popen([*command, *options], env=env)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_ready(process, base_url)
        pin(process.pid, GATEWAY_CPUS)
        direct, through = _direct_and_through(
            sim,
            (f"{sim.base_url}/v1/audio/speech", SPEECH),
            (f"{base_url}/api/v1/audio", UNIFIED_SPEECH, {}),
            seconds,
        )
    finally:
        stop_gateway(process)
    return Overhead(FLOOR, UNIFIED_SPEECH_KIND, direct, through)


def _direct_and_through(
    sim: Upstream,
    direct: tuple[str, Body],
    gateway: tuple[str, Body, dict[str, str]],
    seconds: float,
) -> tuple[WrkResult, WrkResult]:
    """The same request straight to the simulator, then through the gateway, after a warm-up."""
    gateway_url, gateway_body, gateway_headers = gateway
    sim.reset()  # a provider that logs every request forgets them
    _one_connection(gateway_url, gateway_body, gateway_headers, WARM_UP_SECONDS)
    direct_url, direct_body = direct
    sim_auth = {"Authorization": "Bearer bench"}
    straight = _one_connection(direct_url, direct_body, sim_auth, seconds)
    through = _one_connection(gateway_url, gateway_body, gateway_headers, seconds)
    return straight, through


def _one_connection(url: str, body: Body, headers: dict[str, str], seconds: float) -> WrkResult:
    return run_wrk(url, body, headers, connections=1, seconds=seconds, cpus=HARNESS_CPUS)


async def _admin_sql(statement: str) -> None:
    engine = create_async_engine(f"{POSTGRES_SERVER}/test", isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()
