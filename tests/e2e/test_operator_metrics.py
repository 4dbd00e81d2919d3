"""Metrics with several server processes behind one port: every scrape, whichever process
answers it, gives the totals of all of them."""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway_process import RunningGateway, start_gateway, stop_gateway

REQUESTS = 20
SCRAPES = 8


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    env = {"VOXGATE_WORKERS": "2", "VOXGATE_ENGINE_PRELOAD": "false"}
    process, gateway = start_gateway(Path(tmp_path_factory.mktemp("two-workers")), env)
    yield gateway
    stop_gateway(process)


def sample(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def scrape(gateway: RunningGateway) -> str:
    # A new connection each time, as Prometheus's scrapes may land on either process.
    return httpx.get(f"{gateway.base_url}/metrics", timeout=10).text


def test_every_scrape_counts_every_process(two_workers: RunningGateway) -> None:
    for _ in range(REQUESTS):
        response = httpx.get(
            f"{two_workers.base_url}/v1/models",
            headers={"Authorization": f"Bearer {two_workers.key}"},
            timeout=10,
        )
        assert response.status_code == 200
    series = 'voxgate_requests_total{path="/v1/models",status="200"}'
    totals = [sample(scrape(two_workers), series) for _ in range(SCRAPES)]
    assert totals == [REQUESTS] * SCRAPES
    count = 'voxgate_request_seconds_count{path="/v1/models"}'
    assert sample(scrape(two_workers), count) == REQUESTS


def test_process_metrics_are_exposed(two_workers: RunningGateway) -> None:
    text = scrape(two_workers)
    assert sample(text, "process_resident_memory_bytes") > 0
    assert "python_info{" in text
    assert "voxgate_holds_open 0" in text


def test_a_client_hang_up_is_counted_as_499(two_workers: RunningGateway) -> None:
    body = {
        "model": "local-tts",
        "input": " ".join(f"Sentence number {n} of a long answer." for n in range(20)),
        "voice": "alloy",
        "response_format": "pcm",
    }
    with (
        two_workers.client() as client,
        client.stream("POST", "/v1/audio/speech", json=body) as response,
    ):
        assert response.status_code == 200
        next(response.iter_raw())  # the first chunk, then hang up
    series = 'voxgate_requests_total{path="/v1/audio/speech",status="499"}'
    deadline = time.monotonic() + 60
    while sample(scrape(two_workers), series) != 1:
        assert time.monotonic() < deadline, scrape(two_workers)
        time.sleep(0.2)
    assert (
        sample(scrape(two_workers), 'voxgate_requests_total{path="/v1/audio/speech",status="200"}')
        == 0
    )
