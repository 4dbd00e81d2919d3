"""The processes a side-by-side run needs: pinned to cores, measured, and the other gateways
(the LiteLLM proxy and the Portkey gateway).

On a 2-core machine the gateway under test gets core 0 to itself; the simulator and wrk share
core 1. Several workers get every core, as they would in production.
"""

import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml
from tests.gateway_process import free_port, start_gateway, stop_gateway

GATEWAY_CPUS = "0"
HARNESS_CPUS = "1"
# A LiteLLM master key is any string starting "sk-"; this one only guards a loopback proxy.
LITELLM_KEY = "sk-bench-" + "0" * 32
LITELLM_BIN = Path(os.environ.get("VOXGATE_BENCH_LITELLM", ".venv-litellm/bin/litellm"))
# Installed from bench/portkey/package.json by scripts/bench (npm ci), never at import.
PORTKEY_SERVER = (
    Path(__file__).parent / "portkey/node_modules/@portkey-ai/gateway/build/start-server.js"
)
STARTUP_SECONDS = 120
PIN_ATTEMPTS = 3
REDIS_URL = "redis://127.0.0.1:6379/0"
# A running gateway under test: its process id, its base URL and the headers a request needs.
Running = tuple[int, str, dict[str, str]]


def descendants(pid: int) -> list[int]:
    """The process and all its children, grandchildren, …"""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found.extend(descendants(int(child)))
    return found


def pin(pid: int, cpus: str) -> None:
    for member in descendants(pid):
        for _ in range(PIN_ATTEMPTS):
            pinned = subprocess.run(
                ["taskset", "-a", "-p", "-c", cpus, str(member)], capture_output=True, check=False
            )
            # A thread that ended while taskset walked the process's threads fails it: again.
            if pinned.returncode == 0 or not Path(f"/proc/{member}").exists():
                break
        else:
            pinned.check_returncode()


def rss_mb(pid: int) -> float:
    """Resident memory of a process with all its worker processes."""
    total_kb = 0
    for member in descendants(pid):
        status = Path(f"/proc/{member}/status").read_text()
        total_kb += int(status.split("VmRSS:")[1].split()[0])
    return total_kb / 1024


def litellm_available() -> bool:
    return LITELLM_BIN.is_file()


def start_litellm(
    data_dir: Path, upstream: str, port: int, *, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    """The LiteLLM proxy with the benchmark's models routed to `upstream` (the simulator)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    models = [
        {
            "model_name": name,
            "litellm_params": {"model": f"openai/{name}", "api_base": upstream, "api_key": "bench"},
        }
        for name in ("gpt-4o-mini-tts", "gpt-audio", "whisper-1")
    ]
    config = data_dir / "litellm.yaml"
    config.write_text(yaml.safe_dump({"model_list": models}))
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": LITELLM_KEY,
        # The proxy otherwise fetches its price list from the internet at start.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
    }
    command = [str(LITELLM_BIN), "--config", str(config), "--port", str(port)]
    with (data_dir / "litellm.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--num_workers", str(workers)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((data_dir / "litellm.log").read_text())
        try:
            if httpx.get(f"{base_url}/health/liveliness", timeout=1).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"LiteLLM did not start:\n{(data_dir / 'litellm.log').read_text()}")


def portkey_available() -> bool:
    return PORTKEY_SERVER.is_file()


def portkey_headers(upstream: str) -> dict[str, str]:
    """Portkey routes by header: the OpenAI provider, at the benchmark's upstream."""
    return {
        "Authorization": "Bearer bench",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": upstream,
    }


def start_portkey(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """The Portkey gateway on Node: a pass-through with no auth, billing or logs kept."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "portkey.log"
    command = ["node", str(PORTKEY_SERVER), f"--port={port}", "--headless"]
    # Production mode: the development server otherwise serves its console and a log stream.
    env = {**os.environ, "NODE_ENV": "production"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text())
        try:
            httpx.get(base_url, timeout=1)
            return process, base_url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"Portkey did not start:\n{log_path.read_text()}")


@contextmanager
def running_voxgate(upstream: str, workers: int = 1, *, billing: bool = True) -> Iterator[Running]:
    """voxgate with OpenAI routed to `upstream` (its /v1 URL), billing on SQLite (or off)."""
    env = {
        "VOXGATE_BILLING_ENABLED": str(billing).lower(),
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": upstream,
        "VOXGATE_ENGINE_PRELOAD": "false",
        "VOXGATE_WORKERS": str(workers),
        # Several workers share rate limits and circuit breakers through Redis, as in production.
        **({"VOXGATE_REDIS_URL": REDIS_URL} if workers > 1 else {}),
    }
    with tempfile.TemporaryDirectory() as data_dir:
        process, gateway = start_gateway(Path(data_dir), env)
        try:
            key = gateway.new_workspace(f"bench-{secrets.token_hex(4)}", "100000.00")
            yield process.pid, gateway.base_url, {"Authorization": f"Bearer {key}"}
        finally:
            stop_gateway(process)


@contextmanager
def running_litellm(upstream: str, workers: int = 1) -> Iterator[Running]:
    with tempfile.TemporaryDirectory() as data_dir:
        process, base_url = start_litellm(Path(data_dir), upstream, free_port(), workers=workers)
        try:
            yield process.pid, base_url, {"Authorization": f"Bearer {LITELLM_KEY}"}
        finally:
            stop_gateway(process)


@contextmanager
def running_portkey(upstream: str) -> Iterator[Running]:
    with tempfile.TemporaryDirectory() as data_dir:
        process, base_url = start_portkey(Path(data_dir), free_port())
        try:
            yield process.pid, base_url, portkey_headers(upstream)
        finally:
            stop_gateway(process)
