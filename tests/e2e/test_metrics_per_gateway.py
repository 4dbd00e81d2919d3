"""Two gateways on one data directory (two replicas on one volume, or two services on one
host), each with two worker processes: each one's /metrics counts its own requests, before and
after the other starts, and nothing of the metrics lives in the shared directory."""

import re
from pathlib import Path

import httpx

from tests.gateway_process import RunningGateway, start_gateway, stop_gateway

SERIES = 'voxgate_requests_total{path="/v1/models",status="200"}'
FIRST_REQUESTS, SECOND_REQUESTS = 7, 3
SCRAPES = 4


def count(gateway: RunningGateway) -> float:
    """The series' value as every scrape gives it (a new connection each time, as scrapes
    land on either worker); they must agree."""
    found = set()
    for _ in range(SCRAPES):
        text = httpx.get(f"{gateway.base_url}/metrics", timeout=10).text
        sample = re.search(rf"^{re.escape(SERIES)} (\S+)$", text, re.MULTILINE)
        found.add(float(sample.group(1)) if sample else 0.0)
    assert len(found) == 1, found
    return found.pop()


def list_models(gateway: RunningGateway, key: str, times: int) -> None:
    for _ in range(times):
        answer = httpx.get(
            f"{gateway.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text


def test_each_gateway_counts_its_own_requests(tmp_path: Path) -> None:
    shared = tmp_path / "shared-data"
    env = {
        "VOXGATE_WORKERS": "2",
        "VOXGATE_ENGINE_PRELOAD": "false",
        "VOXGATE_DATA_DIR": str(shared),
    }
    first_process, first = start_gateway(tmp_path / "first", env)
    try:
        list_models(first, first.key, FIRST_REQUESTS)
        assert count(first) == FIRST_REQUESTS
        second_process, second = start_gateway(tmp_path / "second", env)
        try:
            # The second one joined the first one's database: its key is the same.
            assert count(first) == FIRST_REQUESTS
            assert count(second) == 0
            list_models(second, first.key, SECOND_REQUESTS)
            assert count(second) == SECOND_REQUESTS
            list_models(first, first.key, 1)
            assert count(first) == FIRST_REQUESTS + 1
            assert count(second) == SECOND_REQUESTS
        finally:
            stop_gateway(second_process)
        assert count(first) == FIRST_REQUESTS + 1
    finally:
        stop_gateway(first_process)
    assert not (shared / "metrics").exists()
