"""Every HTTP request kind, side by side in one run: the provider called directly, voxgate, the
Portkey gateway (Node, from npm) and the LiteLLM proxy, at concurrency 1 and 16.

All four call the same provider, the replayed fast-mode answers (bench/upstream.py), with the
same requests from the same wrk. Each gateway runs one worker on core 0; the provider and wrk
share core 1. voxgate bills every request on SQLite; Portkey runs as a pass-through with no
auth, billing or logs, and LiteLLM with a master key and no database.

The unified endpoint (/api/v1/audio) is voxgate's own: the others are sent its equivalent,
OpenAI's /v1/audio/speech. A gateway that fails a kind shows its failures beside its figures.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from bench.overhead import RequestKind, request_kinds
from bench.processes import (
    GATEWAY_CPUS,
    HARNESS_CPUS,
    Running,
    litellm_available,
    pin,
    portkey_available,
    running_litellm,
    running_portkey,
    running_voxgate,
)
from bench.upstream import SIM_AUTH, Upstream
from bench.wrk import Body, run_wrk

CONCURRENCY = (1, 16)
SECONDS = 4
WARM_UP_SECONDS = 1
DIRECT = "direct"
VOXGATE = "voxgate"
PORTKEY = "Portkey"
LITELLM = "LiteLLM"


@dataclass(frozen=True)
class GatewayFigure:
    gateway: str
    request: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int


def measure_gateways(sim: Upstream, seconds: float = SECONDS) -> list[GatewayFigure]:
    upstream = f"{sim.base_url}/v1"
    others: dict[str, Callable[[], AbstractContextManager[Running]]] = {
        VOXGATE: lambda: running_voxgate(upstream),
    }
    if portkey_available():
        others[PORTKEY] = lambda: running_portkey(upstream)
    if litellm_available():
        others[LITELLM] = lambda: running_litellm(upstream)
    figures = _measure(sim, DIRECT, sim.base_url, SIM_AUTH, seconds)
    for name, start in others.items():
        with start() as (pid, base_url, headers):
            pin(pid, GATEWAY_CPUS)
            figures += _measure(sim, name, base_url, headers, seconds)
    return figures


def _measure(
    sim: Upstream, gateway: str, base_url: str, headers: dict[str, str], seconds: float
) -> list[GatewayFigure]:
    figures = []
    for kind in request_kinds():
        path, body = _request_for(gateway, kind)
        url = f"{base_url}{path}"
        sim.reset()  # a provider that logs every request forgets them
        run_wrk(url, body, headers, connections=1, seconds=WARM_UP_SECONDS, cpus=HARNESS_CPUS)
        for concurrency in CONCURRENCY:
            result = run_wrk(
                url, body, headers, connections=concurrency, seconds=seconds, cpus=HARNESS_CPUS
            )
            figures.append(
                GatewayFigure(
                    gateway,
                    kind.name,
                    concurrency,
                    result.rps,
                    result.p50_ms,
                    result.p99_ms,
                    result.failures,
                )
            )
    return figures


def _request_for(gateway: str, kind: RequestKind) -> tuple[str, Body]:
    if gateway == VOXGATE:
        return kind.gateway_path, kind.gateway_body
    return kind.direct_path, kind.direct_body
