"""What one failover costs: the same request served at once, and after a failed first attempt.

Run: .venv/bin/python -m bench.failover
The simulator runs in fast mode (fixed audio), so the difference is the gateway's failover work
(the failed attempt, the backoff, the second attempt), not synthesis.
"""

import asyncio
import tempfile
from pathlib import Path

from tests.gateway_process import start_gateway, start_simulator, stop_gateway

from bench.load import run_load

BODY = {
    "model": "gpt-4o-mini-tts",
    "input": "Failover.",
    "voice": "coral",
    "response_format": "pcm16",
}
REQUESTS = 100


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        sim_process, sim = start_simulator(root / "sim", fast=True)
        env = {
            "OPENAI_API_KEY": "primary",
            "OPENAI_API_KEY_SECONDARY": "secondary",
            "OPENAI_BASE_URL": f"{sim.base_url}/v1",
            "VOXGATE_BREAKER_THRESHOLD": "1000000",
        }
        process, gateway = start_gateway(root / "gateway", env)
        try:
            key = gateway.new_workspace("bench", "100.00")
            url, headers = f"{gateway.base_url}/api/v1/audio", {"Authorization": f"Bearer {key}"}
            asyncio.run(run_load(url, BODY, headers, requests=20, concurrency=1))
            direct = asyncio.run(run_load(url, BODY, headers, requests=REQUESTS, concurrency=1))
            sim.queue_faults("primary", *({"kind": "500"} for _ in range(REQUESTS)))
            failover = asyncio.run(run_load(url, BODY, headers, requests=REQUESTS, concurrency=1))
        finally:
            stop_gateway(process)
            stop_gateway(sim_process)
    assert direct.failures == failover.failures == 0
    print(f"{'path':28} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'first key answers':28} {direct.p50_ms:8.2f} {direct.p99_ms:8.2f}")
    print(f"{'first key 500, second ok':28} {failover.p50_ms:8.2f} {failover.p99_ms:8.2f}")
    print(f"added by one failover (p50): {failover.p50_ms - direct.p50_ms:.2f} ms")


if __name__ == "__main__":
    main()
