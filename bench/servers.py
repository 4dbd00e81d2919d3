"""The ASGI server, chosen by measurement: the same app and database under uvicorn (uvloop,
httptools; what `voxgate serve` runs) and under granian, one worker on its own core."""

import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.gateway_process import (
    free_port,
    start_gateway,
    stop_gateway,
    wait_until_ready,
)

from bench.processes import GATEWAY_CPUS, HARNESS_CPUS, pin
from bench.requests import SPEECH
from bench.upstream import Upstream
from bench.wrk import WrkResult, run_wrk

SECONDS = 8
CONCURRENCY = (16, 64)
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class ServerRow:
    server: str
    concurrency: int
    result: WrkResult


def commands(port: int) -> dict[str, list[str]]:
    app = "voxgate.app:create_app"
    return {
        "uvicorn (uvloop, httptools)": [
            *(sys.executable, "-m", "uvicorn", app, "--factory", "--port", str(port)),
            *("--loop", "uvloop", "--http", "httptools", "--no-access-log"),
            *("--log-level", "warning"),
        ],
        "granian (asgi, uvloop)": [
            *(str(BIN / "granian"), "--interface", "asgi", "--factory", "--port", str(port)),
            *("--loop", "uvloop", "--no-access-log", "--log-level", "warning", app),
        ],
    }


def measure_servers(sim: Upstream, seconds: float = SECONDS) -> list[ServerRow]:
    env = {
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": f"{sim.base_url}/v1",
        "VOXGATE_ENGINE_PRELOAD": "false",
    }
    rows: list[ServerRow] = []
    with tempfile.TemporaryDirectory() as data_dir:
        # `voxgate serve` once, to migrate and create a funded key; then each server alone.
        process, gateway = start_gateway(Path(data_dir), env)
        key = gateway.new_workspace(f"bench-{secrets.token_hex(4)}", "100000.00")
        stop_gateway(process)
        headers = {"Authorization": f"Bearer {key}"}
        server_env = {**os.environ, **env, "VOXGATE_DATA_DIR": data_dir}
        port = free_port()
        for server, command in commands(port).items():
            if not Path(command[0]).exists():
                continue
            running = subprocess.Popen(command, env=server_env)
            try:
                wait_until_ready(running, f"http://127.0.0.1:{port}")
                pin(running.pid, GATEWAY_CPUS)
                url = f"http://127.0.0.1:{port}/v1/audio/speech"
                run_wrk(url, SPEECH, headers, connections=16, seconds=2, cpus=HARNESS_CPUS)
                for concurrency in CONCURRENCY:
                    sim.reset()
                    result = run_wrk(
                        url,
                        SPEECH,
                        headers,
                        connections=concurrency,
                        seconds=seconds,
                        cpus=HARNESS_CPUS,
                    )
                    rows.append(ServerRow(server, concurrency, result))
            finally:
                stop_gateway(running)
    return rows
