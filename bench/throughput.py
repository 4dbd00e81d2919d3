"""Requests per second and p99 at concurrency 16 and 64, voxgate beside the LiteLLM proxy.

Both gateways call the same provider, the replay of the simulator's fast-mode answers
(bench/upstream.py: microseconds an answer, so the gateway is what is measured), with the same
requests from the same wrk. One worker: the gateway has core 0 to itself, the provider and wrk
share core 1. Several workers: one per core (with Redis), sharing both cores with the provider
and wrk.
voxgate bills every request (SQLite); LiteLLM runs without a database, so it records nothing.
"""

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass

from bench.processes import (
    GATEWAY_CPUS,
    HARNESS_CPUS,
    Running,
    litellm_available,
    pin,
    rss_mb,
    running_litellm,
    running_voxgate,
)
from bench.requests import CHAT, SPEECH
from bench.upstream import Upstream
from bench.wrk import WrkResult, run_wrk

SECONDS = 10
CONCURRENCY = (16, 64)
ALL_CPUS = "0-1"


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
        upstream = f"{sim.base_url}/v1"
        _run(sim, "voxgate", count, cpus, running_voxgate(upstream, count), report, seconds)
        if litellm_available():
            _run(sim, "LiteLLM", count, cpus, running_litellm(upstream, count), report, seconds)
    return report


def _run(
    sim: Upstream,
    name: str,
    workers: int,
    cpus: str,
    target: AbstractContextManager[Running],
    report: ThroughputReport,
    seconds: float,
) -> None:
    with target as (pid, base_url, headers):
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
