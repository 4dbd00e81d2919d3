"""Logs an operator can use: one access line per request, a line per failed upstream attempt and
per failover, JSON when asked, and the load balancer's request id kept end to end."""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_process import (
    SIM_KEYS,
    RunningGateway,
    RunningSimulator,
    routed_gateway,
    whole_lines,
)
from voxgate.store.keys import SHOWN_PREFIX_LENGTH

SPEECH = {
    "model": "gpt-4o-mini-tts",
    "input": "Logged once, by its own name.",
    "voice": "coral",
    "response_format": "wav",
}


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = Path(tmp_path_factory.mktemp("logged"))
    # The test is the load balancer in front, on loopback.
    env = {"VOXGATE_LOG_FORMAT": "json", "VOXGATE_TRUSTED_PROXIES": "127.0.0.1"}
    with routed_gateway(root, **env) as running:
        yield running


def json_lines(gateway: RunningGateway) -> list[dict[str, Any]]:
    """The JSON lines the gateway has finished writing (a line half written is not read)."""
    return [json.loads(line) for line in whole_lines(gateway.output) if line.startswith("{")]


def access_lines(gateway: RunningGateway, request_id: str) -> list[dict[str, Any]]:
    """The access lines of one request, once there is at least one (bounded wait)."""
    deadline = time.monotonic() + 10
    while True:
        found = [
            line
            for line in json_lines(gateway)
            if line["logger"] == "voxgate.access" and line.get("request_id") == request_id
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_every_request_writes_one_access_line(
    logged: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = logged
    with gateway.client() as client:
        answers = [
            client.get("/healthz"),
            client.get("/v1/models/whisper-1"),
            client.get("/v1/models/no-such-model"),
            client.post("/v1/audio/speech", json={"model": "gpt-4o-mini-tts"}),
            client.post("/v1/audio/speech", json=SPEECH),
        ]
    for answer in answers:
        [line] = access_lines(gateway, answer.headers["x-request-id"])
        assert line["status"] == answer.status_code
        assert line["method"] == answer.request.method
        assert line["key"] == gateway.key[:SHOWN_PREFIX_LENGTH]
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
        assert line["level"] == "info"
    assert [
        line["path"]
        for line in (access_lines(gateway, a.headers["x-request-id"])[0] for a in answers[:2])
    ] == [
        "/healthz",
        "/v1/models/{model_id:path}",
    ]
    assert gateway.key not in "\n".join(json.dumps(line) for line in json_lines(gateway))


def test_an_inbound_request_id_is_kept_and_recorded(
    logged: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = logged
    with gateway.client() as client:
        spoken = client.post(
            "/v1/audio/speech", json=SPEECH, headers={"X-Request-ID": "lb-abc-123"}
        )
        assert spoken.status_code == 200, spoken.text
        assert spoken.headers["x-request-id"] == "lb-abc-123"
        record = client.get("/api/v1/usage/lb-abc-123")
        assert record.status_code == 200, record.text
        assert record.json()["request_id"] == "lb-abc-123"
        assert record.json()["model"] == "gpt-4o-mini-tts"
        for malformed in (
            "has spaces in it",
            "x" * 65,
            "-starts-with-a-dash",
            "\xfcn\xefcode".encode("latin-1"),
        ):
            answer = client.get("/healthz", headers={"X-Request-ID": malformed})
            assert answer.headers["x-request-id"].startswith("req_")
    assert len(access_lines(gateway, "lb-abc-123")) == 1


def test_a_failover_and_its_failed_attempt_are_logged(
    logged: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = logged
    sim.queue_faults(SIM_KEYS["primary"], {"kind": "500"})
    with gateway.client() as client:
        assert client.post("/v1/audio/speech", json=SPEECH).status_code == 200
    deadline = time.monotonic() + 10
    while not any(line["message"].startswith("failover:") for line in json_lines(gateway)):
        assert time.monotonic() < deadline, gateway.output.read_text()
        time.sleep(0.05)
    failed = [
        line
        for line in json_lines(gateway)
        if line["message"].startswith("upstream attempt failed")
    ]
    assert any(
        line["upstream_status"] == "500" and line["model"] == "gpt-4o-mini-tts" for line in failed
    )
    assert all(line["level"] == "warning" for line in failed)
