"""Time to first byte of a speech answer from the speech cache, against reading the same file
straight from disk, and against the same request from a workspace without the cache.

Run: .venv/bin/python -m bench.speech_cache
The simulator answers at once (fast mode), so the miss is the gateway and the provider's own
work. Each request is POST /v1/audio/speech streamed, timed to its first body byte; GET /healthz
in the same run is the floor any answer through HTTP pays on this machine at this moment.
Target: a cached answer's first byte ≤ 5 ms over a direct read of its file.
"""

import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.gateway_process import RunningGateway, routed_gateway

from bench.ttfb import first_byte_ms

RUNS = 50
BODY = {
    "model": "gpt-4o-mini-tts",
    "input": "One moment, please, while I look that up for you.",
    "voice": "coral",
    "response_format": "mp3",
}


@dataclass(frozen=True)
class CacheFigures:
    file_bytes: int
    file_read_ms: float
    healthz_ms: float
    cached_ms: float
    uncached_ms: float

    @property
    def added_ms(self) -> float:
        return self.cached_ms - self.file_read_ms


def workspace_key(gateway: RunningGateway, *, speech_cache: bool) -> str:
    with gateway.admin() as admin:
        name = f"bench-{secrets.token_hex(4)}"
        workspace = admin.post("/admin/v1/workspaces", json={"name": name, "credit_usd": "100"})
        workspace_id = workspace.json()["id"]
        key = admin.post(f"/admin/v1/workspaces/{workspace_id}/keys", json={"name": "bench"})
        admin.patch(f"/admin/v1/workspaces/{workspace_id}", json={"speech_cache": speech_cache})
    secret: str = key.json()["secret"]
    return secret


def file_read_ms(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as handle:
        handle.read()
    return (time.perf_counter() - started) * 1000


def healthz_ms(client: httpx.Client) -> float:
    started = time.perf_counter()
    client.get("/healthz").raise_for_status()
    return (time.perf_counter() - started) * 1000


def median_first_byte_ms(client: httpx.Client, runs: int) -> float:
    first_byte_ms(client, "/v1/audio/speech", BODY)  # warms up (and, with the cache, fills it)
    return statistics.median(first_byte_ms(client, "/v1/audio/speech", BODY) for _ in range(runs))


def measure(gateway: RunningGateway, runs: int = RUNS) -> CacheFigures:
    with (
        gateway.client(workspace_key(gateway, speech_cache=True)) as cached,
        gateway.client(workspace_key(gateway, speech_cache=False)) as uncached,
    ):
        cached_ms = median_first_byte_ms(cached, runs)
        uncached_ms = median_first_byte_ms(uncached, runs)
        floor_ms = statistics.median(healthz_ms(cached) for _ in range(runs))
    [path] = (gateway.data_dir / "speech-cache").glob("*.speech")
    reads = statistics.median(file_read_ms(path) for _ in range(runs))
    return CacheFigures(path.stat().st_size, reads, floor_ms, cached_ms, uncached_ms)


def table(figures: CacheFigures) -> str:
    return "\n".join(
        [
            f"Speech cache, time to first byte, median of {RUNS} (target: a cached answer "
            "≤ 5 ms over a direct read of its file)",
            "",
            "| answer | first byte |",
            "|---|---:|",
            f"| direct read of the cache file ({figures.file_bytes} bytes) "
            f"| {figures.file_read_ms:.2f} ms |",
            f"| GET /healthz, through voxgate (the HTTP floor of this run) "
            f"| {figures.healthz_ms:.2f} ms |",
            f"| cached, through voxgate | {figures.cached_ms:.2f} ms "
            f"({figures.added_ms:+.2f} ms) |",
            f"| not cached (another workspace), through voxgate | {figures.uncached_ms:.2f} ms |",
        ]
    )


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as directory,
        routed_gateway(Path(directory)) as (gateway, _),
    ):
        print(table(measure(gateway)))


if __name__ == "__main__":
    main()
