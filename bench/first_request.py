"""Time to first audio of the first request of each kind after ready, against the tenth.

Run: .venv/bin/python -m bench.first_request
Ready means warm: a gateway started afresh answers the first streamed request of each kind as
early as the tenth. The simulator starts once and is warmed by direct requests, so its own
first answers are not counted. Each round then starts a new gateway against it, waits until
`/readyz` answers 200, and sends each streamed route ten times in a row, every answer paced
alike by the simulator. Target: the first adds at most 5 ms over the tenth (medians of rounds).
"""

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.gateway_process import (
    SIM_KEYS,
    RunningSimulator,
    simulated_providers,
    start_gateway,
    start_simulator,
    stop_gateway,
)

from bench.ttfb import PACE, ROUTES, first_byte_ms

ROUNDS = 5
REQUESTS = 10
SIMULATOR_WARM_UP = 3
PACED = {"kind": "paced", "first_chunk_ms": PACE[0], "chunk_interval_ms": PACE[1]}


@dataclass(frozen=True)
class FirstAfterReady:
    route: str
    first_ms: float
    tenth_ms: float

    @property
    def added_ms(self) -> float:
        return self.first_ms - self.tenth_ms


def warm_simulator(sim: RunningSimulator) -> None:
    """The simulator's own first answers, paid before any gateway is timed."""
    headers = {
        "Authorization": f"Bearer {SIM_KEYS['primary']}",
        "x-sim-pace": f"{PACE[0]},{PACE[1]}",
    }
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=30) as direct:
        for route in ROUTES:
            for _ in range(SIMULATOR_WARM_UP):
                first_byte_ms(direct, route.upstream_path, route.upstream_body)


def measure(root: Path, rounds: int = ROUNDS) -> list[FirstAfterReady]:
    firsts: dict[str, list[float]] = {route.name: [] for route in ROUTES}
    tenths: dict[str, list[float]] = {route.name: [] for route in ROUTES}
    sim_process, sim = start_simulator(root / "sim", fast=True)
    try:
        warm_simulator(sim)
        env = simulated_providers(sim, VOXGATE_ENGINE_PRELOAD="false")
        for round_ in range(rounds):
            process, gateway = start_gateway(root / f"gateway-{round_}", env)
            try:
                with gateway.client() as through:
                    for route in ROUTES:
                        times = []
                        for _ in range(REQUESTS):
                            sim.queue_faults(SIM_KEYS["primary"], PACED)
                            times.append(
                                first_byte_ms(through, route.gateway_path, route.gateway_body)
                            )
                        firsts[route.name].append(times[0])
                        tenths[route.name].append(times[-1])
            finally:
                stop_gateway(process)
    finally:
        stop_gateway(sim_process)
    return [
        FirstAfterReady(
            route.name, statistics.median(firsts[route.name]), statistics.median(tenths[route.name])
        )
        for route in ROUTES
    ]


def table(results: list[FirstAfterReady]) -> str:
    lines = [
        f"Time to first byte after ready, median of {ROUNDS} fresh gateways, upstream paced "
        f"{PACE[0]} ms then every {PACE[1]} ms (target: the first adds ≤ 5 ms over the tenth)",
        "",
        "| streamed route | 1st request | 10th request | added |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r.route} | {r.first_ms:.1f} ms | {r.tenth_ms:.1f} ms | {r.added_ms:+.1f} ms |"
        for r in results
    ]
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        print(table(measure(Path(directory))))


if __name__ == "__main__":
    main()
