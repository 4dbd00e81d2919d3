"""Time to first audio through the gateway minus straight from the provider, per streamed route.

Run: .venv/bin/python -m bench.ttfb
The simulator paces every answer (its first chunk after PACE's first delay, then one chunk every
PACE interval), so a gateway that waited for the whole answer would show the whole pace here.
Direct: the request the gateway sends upstream, made to the simulator with the pace header.
Through: the client's request to the gateway, with the same pace queued for the gateway's key.
Target: at most 5 ms added at p50.
"""

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator, routed_gateway

from bench.requests import CHAT, SPEECH

RUNS = 30
PACE = (50, 20)  # first chunk after 50 ms, then one every 20 ms
STREAMED_CHAT = {
    **CHAT,
    "audio": {"voice": "alloy", "format": "pcm16"},
    "stream": True,
    "stream_options": {"include_usage": True},
}


@dataclass(frozen=True)
class Route:
    name: str
    gateway_path: str
    gateway_body: dict[str, Any]
    upstream_path: str
    upstream_body: dict[str, Any]


ROUTES = (
    Route(
        "speech, chunked (OpenAI SSE upstream)",
        "/v1/audio/speech",
        SPEECH,
        "/v1/audio/speech",
        {**SPEECH, "stream_format": "sse"},
    ),
    Route(
        "speech, SSE",
        "/v1/audio/speech",
        {**SPEECH, "stream_format": "sse"},
        "/v1/audio/speech",
        {**SPEECH, "stream_format": "sse"},
    ),
    Route(
        "chat completion with audio, streamed",
        "/v1/chat/completions",
        STREAMED_CHAT,
        "/v1/chat/completions",
        STREAMED_CHAT,
    ),
)


@dataclass(frozen=True)
class FirstByte:
    route: str
    direct_ms: float
    gateway_ms: float

    @property
    def added_ms(self) -> float:
        return self.gateway_ms - self.direct_ms


def first_byte_ms(client: httpx.Client, path: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    with client.stream("POST", path, json=body) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            if chunk:
                return (time.perf_counter() - started) * 1000
    raise RuntimeError(f"{path} answered no body")


def measure(gateway: RunningGateway, sim: RunningSimulator, runs: int = RUNS) -> list[FirstByte]:
    pace = {"kind": "paced", "first_chunk_ms": PACE[0], "chunk_interval_ms": PACE[1]}
    upstream_headers = {
        "Authorization": f"Bearer {SIM_KEYS['primary']}",
        "x-sim-pace": f"{PACE[0]},{PACE[1]}",
    }
    results = []
    with (
        httpx.Client(base_url=sim.base_url, headers=upstream_headers, timeout=30) as direct,
        gateway.client() as through,
    ):
        for route in ROUTES:
            direct_ms, gateway_ms = [], []
            for run in range(runs + 1):
                sim.queue_faults(SIM_KEYS["primary"], pace)
                through_ms = first_byte_ms(through, route.gateway_path, route.gateway_body)
                straight_ms = first_byte_ms(direct, route.upstream_path, route.upstream_body)
                if run:  # the first run warms both up
                    gateway_ms.append(through_ms)
                    direct_ms.append(straight_ms)
            results.append(
                FirstByte(route.name, statistics.median(direct_ms), statistics.median(gateway_ms))
            )
    return results


def table(results: list[FirstByte]) -> str:
    lines = [
        f"Time to first byte, median of {RUNS}, upstream paced {PACE[0]} ms then every "
        f"{PACE[1]} ms (target: ≤ 5 ms added)",
        "",
        "| streamed route | direct | through voxgate | added |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r.route} | {r.direct_ms:.1f} ms | {r.gateway_ms:.1f} ms | {r.added_ms:+.1f} ms |"
        for r in results
    ]
    return "\n".join(lines)


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as directory,
        routed_gateway(Path(directory)) as (gateway, sim),
    ):
        print(table(measure(gateway, sim)))


if __name__ == "__main__":
    main()
