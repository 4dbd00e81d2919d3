"""Where a speech request's CPU goes at concurrency 16, one worker, against what 10× LiteLLM's
requests per second would allow it.

Run: .venv/bin/python -m bench.cpu_budget (after scripts/bench has installed the LiteLLM proxy)
One worker has core 0 to itself, so its requests per second is one core over its CPU time per
request. Five processes answer the same speech request (OpenAI's /v1/audio/speech for LiteLLM,
the unified endpoint for the others) from the same replayed provider, one after another, each
measured ROUNDS times:

- the bare forwarder (bench/forwarder.py): uvicorn, Starlette and aiohttp, nothing else;
- the same forwarder billing durably on SQLite with voxgate's own `Holds`: a hold placed before
  the upstream call and settled with a usage record after, and nothing else of a gateway;
- voxgate with billing off: the key, validation, routing, metering, logs and metrics;
- voxgate billing durably on SQLite, as it runs: the hold and the settlement add two
  transactions a request;
- the LiteLLM proxy.

The budget is one core divided by ten times LiteLLM's requests per second: what voxgate's CPU
time per request must not pass for the 10× target. The CPU time is the process's (all its
threads) from /proc over the measured seconds, divided by the requests wrk counted.
"""

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.gateway_process import free_port, start_simulator, stop_gateway, wait_until_ready

from bench.processes import (
    GATEWAY_CPUS,
    HARNESS_CPUS,
    Running,
    litellm_available,
    pin,
    running_litellm,
    running_voxgate,
)
from bench.requests import SPEECH, UNIFIED_SPEECH
from bench.upstream import fast_upstream
from bench.wrk import Body, run_wrk

SECONDS = 4
ROUNDS = 3
CONCURRENCY = 16
TARGET_RATIO = 10


@dataclass(frozen=True)
class CpuFigure:
    process: str
    rps: float
    cpu_ms_per_request: float
    p99_ms: float
    failures: int


def measure_cpu_budget() -> list[CpuFigure]:
    with tempfile.TemporaryDirectory() as directory:
        sim_process, sim = start_simulator(Path(directory), fast=True)
        try:
            with fast_upstream(sim) as upstream:
                pin(upstream.pid, HARNESS_CPUS)
                return _measure_all(f"{upstream.base_url}/v1")
        finally:
            stop_gateway(sim_process)


def _measure_all(upstream: str) -> list[CpuFigure]:
    unified = ("/api/v1/audio", UNIFIED_SPEECH)
    processes: dict[str, tuple[Callable[[], AbstractContextManager[Running]], str, Body]] = {
        "bare forwarder": (lambda: _running_forwarder(upstream), *unified),
        "bare forwarder, billing on SQLite": (
            lambda: _running_forwarder(upstream, billing=True),
            *unified,
        ),
        "voxgate, billing off": (lambda: running_voxgate(upstream, billing=False), *unified),
        "voxgate, billing on SQLite": (lambda: running_voxgate(upstream), *unified),
    }
    if litellm_available():
        processes["LiteLLM"] = (lambda: running_litellm(upstream), "/v1/audio/speech", SPEECH)
    figures = []
    for name, (start, path, body) in processes.items():
        with start() as (pid, base_url, headers):
            pin(pid, GATEWAY_CPUS)
            figures.append(_measure(name, pid, f"{base_url}{path}", body, headers))
    return figures


def _measure(name: str, pid: int, url: str, body: Body, headers: dict[str, str]) -> CpuFigure:
    run_wrk(url, body, headers, connections=CONCURRENCY, seconds=1, cpus=HARNESS_CPUS)
    rounds = []
    failures = 0
    for _ in range(ROUNDS):
        before = _cpu_seconds(pid)
        result = run_wrk(
            url, body, headers, connections=CONCURRENCY, seconds=SECONDS, cpus=HARNESS_CPUS
        )
        spent = _cpu_seconds(pid) - before
        rounds.append((result.rps, 1000 * spent / result.requests, result.p99_ms))
        failures += result.failures
    rps, cpu_ms, p99_ms = (statistics.median(column) for column in zip(*rounds, strict=True))
    return CpuFigure(name, rps, cpu_ms, p99_ms, failures)


def _cpu_seconds(pid: int) -> float:
    """User and system time of the process and its threads (fields 14 and 15 of its stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _running_forwarder(upstream: str, *, billing: bool = False) -> Iterator[Running]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.forwarder:app", "--port", str(port)]
    options = ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    with tempfile.TemporaryDirectory() as directory:
        env = {**os.environ, "VOXGATE_BENCH_UPSTREAM": upstream}
        if billing:
            env["VOXGATE_BENCH_DATABASE"] = str(Path(directory) / "billing.db")
        process = subprocess.Popen([*command, *options, "--log-level", "warning"], env=env)
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_ready(process, base_url)
            yield process.pid, base_url, {}
        finally:
            stop_gateway(process)


def table(figures: list[CpuFigure]) -> str:
    lines = [
        f"| process (speech, c={CONCURRENCY}, one worker) | rps | CPU ms per request | p99 ms "
        "| failed |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {f.process} | {f.rps:.0f} | {f.cpu_ms_per_request:.3f} | {f.p99_ms:.1f} "
            f"| {f.failures} |"
            for f in figures
        ),
    ]
    litellm = next((f for f in figures if f.process == "LiteLLM"), None)
    if litellm is not None:
        budget = 1000 / (TARGET_RATIO * litellm.rps)
        lines.append(
            f"\nBudget for {TARGET_RATIO}× LiteLLM: {budget:.3f} CPU ms a request "
            f"({TARGET_RATIO * litellm.rps:.0f} rps on one core)."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(measure_cpu_budget()))
