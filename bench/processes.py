"""The processes a side-by-side run needs: pinned to cores, measured, and the LiteLLM proxy.

On a 2-core machine the gateway under test gets core 0 to itself; the simulator and wrk share
core 1. Several workers get every core, as they would in production.
"""

import os
import subprocess
import time
from pathlib import Path

import httpx
import yaml

GATEWAY_CPUS = "0"
HARNESS_CPUS = "1"
# A LiteLLM master key is any string starting "sk-"; this one only guards a loopback proxy.
LITELLM_KEY = "sk-bench-" + "0" * 32
LITELLM_BIN = Path(os.environ.get("VOXGATE_BENCH_LITELLM", ".venv-litellm/bin/litellm"))
STARTUP_SECONDS = 120


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
        subprocess.run(
            ["taskset", "-a", "-p", "-c", cpus, str(member)], capture_output=True, check=True
        )


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
        for name in ("gpt-4o-mini-tts", "gpt-audio")
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
