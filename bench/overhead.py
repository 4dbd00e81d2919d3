"""Added latency at concurrency 1: through the gateway minus calling the simulator directly.

Billing is on: every gateway request authenticates, validates, holds, calls, settles and writes
its usage record. The gateway has core 0 to itself; the simulator and wrk share core 1. A bare
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
    RunningSimulator,
    free_port,
    start_gateway,
    stop_gateway,
    wait_until_ready,
)

from bench.processes import GATEWAY_CPUS, HARNESS_CPUS, pin
from bench.requests import CHAT, SPEECH, UNIFIED_SPEECH
from bench.wrk import WrkResult, run_wrk

POSTGRES_SERVER = "postgresql+asyncpg://root@127.0.0.1:5432"
# The row of the bare forwarder: what one Python hop costs on this machine, before any gateway.
FLOOR = "none: bare forwarder"
SECONDS = 8


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


def measure_overhead(sim: RunningSimulator, seconds: float = SECONDS) -> list[Overhead]:
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
    sim: RunningSimulator, backend: str, database_url: str | None, seconds: float
) -> list[Overhead]:
    env = {
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": f"{sim.base_url}/v1",
        "VOXGATE_ENGINE_PRELOAD": "false",
        **({"VOXGATE_DATABASE_URL": database_url} if database_url else {}),
    }
    with tempfile.TemporaryDirectory() as data_dir:
        process, gateway = start_gateway(Path(data_dir), env)
        try:
            pin(process.pid, GATEWAY_CPUS)
            key = gateway.new_workspace(f"bench-{secrets.token_hex(4)}", "100000.00")
            auth = {"Authorization": f"Bearer {key}"}
            pairs = {
                "speech (POST /api/v1/audio, tts)": (
                    (f"{sim.base_url}/v1/audio/speech", SPEECH),
                    (f"{gateway.base_url}/api/v1/audio", UNIFIED_SPEECH),
                ),
                "chat (POST /v1/chat/completions)": (
                    (f"{sim.base_url}/v1/chat/completions", CHAT),
                    (f"{gateway.base_url}/v1/chat/completions", CHAT),
                ),
            }
            rows = []
            for request, ((direct_url, direct_body), (gateway_url, gateway_body)) in pairs.items():
                sim_auth = {"Authorization": "Bearer bench"}
                sim.reset()  # the simulator logs every request; a long log slows it down
                run_wrk(
                    gateway_url, gateway_body, auth, connections=1, seconds=2, cpus=HARNESS_CPUS
                )
                direct = run_wrk(
                    direct_url,
                    direct_body,
                    sim_auth,
                    connections=1,
                    seconds=seconds,
                    cpus=HARNESS_CPUS,
                )
                through = run_wrk(
                    gateway_url,
                    gateway_body,
                    auth,
                    connections=1,
                    seconds=seconds,
                    cpus=HARNESS_CPUS,
                )
                rows.append(Overhead(backend, request, direct, through))
        finally:
            stop_gateway(process)
    return rows


def _forwarder(sim: RunningSimulator, seconds: float) -> Overhead:
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
        url = f"{base_url}/api/v1/audio"
        run_wrk(url, UNIFIED_SPEECH, {}, connections=1, seconds=2, cpus=HARNESS_CPUS)
        sim_auth = {"Authorization": "Bearer bench"}
        sim.reset()
        direct = run_wrk(
            f"{sim.base_url}/v1/audio/speech",
            SPEECH,
            sim_auth,
            connections=1,
            seconds=seconds,
            cpus=HARNESS_CPUS,
        )
        through = run_wrk(
            url, UNIFIED_SPEECH, {}, connections=1, seconds=seconds, cpus=HARNESS_CPUS
        )
    finally:
        stop_gateway(process)
    return Overhead(FLOOR, "speech (POST /api/v1/audio, tts)", direct, through)


async def _admin_sql(statement: str) -> None:
    engine = create_async_engine(f"{POSTGRES_SERVER}/test", isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()
