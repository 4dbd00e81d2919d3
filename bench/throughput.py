"""Requests per second and p99 at concurrency 16 and 64, voxgate beside the LiteLLM proxy.

Both gateways call the same provider, the replay of the simulator's fast-mode answers
(bench/upstream.py: microseconds an answer, so the gateway is what is measured), with the same
requests from the same wrk. One worker: the gateway has core 0 to itself, the provider and wrk
share core 1. Several workers: one per core (with Redis), sharing both cores with the provider
and wrk.
voxgate bills every request (SQLite); LiteLLM runs without a database, so it records nothing.
"""

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.gateway_process import free_port, start_gateway, stop_gateway

from bench.processes import (
    GATEWAY_CPUS,
    HARNESS_CPUS,
    LITELLM_KEY,
    litellm_available,
    pin,
    rss_mb,
    start_litellm,
)
from bench.requests import CHAT, SPEECH
from bench.upstream import Upstream
from bench.wrk import WrkResult, run_wrk

SECONDS = 10
CONCURRENCY = (16, 64)
ALL_CPUS = "0-1"
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Throughput:
    gateway: str
    workers: int
    request: str
    concurrency: int
    result: WrkResult


@dataclass(frozen=True)
class Rss:
    gateway: str
    idle_mb: float
    loaded_mb: float


@dataclass
class ThroughputReport:
    rows: list[Throughput]
    memory: list[Rss]


def measure_throughput(sim: Upstream, seconds: float = SECONDS) -> ThroughputReport:
    report = ThroughputReport([], [])
    workers = {1: GATEWAY_CPUS, os.cpu_count() or 1: ALL_CPUS}
    for count, cpus in workers.items():
        _run(sim, "voxgate", count, cpus, _voxgate(sim, count), report, seconds)
        if litellm_available():
            _run(sim, "LiteLLM", count, cpus, _litellm(sim, count), report, seconds)
    return report


def _run(
    sim: Upstream,
    name: str,
    workers: int,
    cpus: str,
    target: Iterator[tuple[int, str, dict[str, str]]],
    report: ThroughputReport,
    seconds: float,
) -> None:
    with _started(target) as (pid, base_url, headers):
        pin(pid, cpus)
        idle = rss_mb(pid)
        for request, (path, body) in {
            "speech": ("/v1/audio/speech", SPEECH),
            "chat": ("/v1/chat/completions", CHAT),
        }.items():
            url = f"{base_url}{path}"
            run_wrk(url, body, headers, connections=16, seconds=2, cpus=HARNESS_CPUS)
            for concurrency in CONCURRENCY:
                sim.reset()  # a provider that logs every request forgets them
                result = run_wrk(
                    url, body, headers, connections=concurrency, seconds=seconds, cpus=HARNESS_CPUS
                )
                report.rows.append(Throughput(name, workers, request, concurrency, result))
        if workers == 1:
            report.memory.append(Rss(name, idle, rss_mb(pid)))


@contextmanager
def _started(
    target: Iterator[tuple[int, str, dict[str, str]]],
) -> Iterator[tuple[int, str, dict[str, str]]]:
    try:
        yield next(target)
    finally:
        target.close()


def _voxgate(sim: Upstream, workers: int) -> Iterator[tuple[int, str, dict[str, str]]]:
    env = {
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": f"{sim.base_url}/v1",
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


def _litellm(sim: Upstream, workers: int) -> Iterator[tuple[int, str, dict[str, str]]]:
    with tempfile.TemporaryDirectory() as data_dir:
        process, base_url = start_litellm(
            Path(data_dir), f"{sim.base_url}/v1", free_port(), workers=workers
        )
        try:
            yield process.pid, base_url, {"Authorization": f"Bearer {LITELLM_KEY}"}
        finally:
            stop_gateway(process)
