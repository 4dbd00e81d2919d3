"""Streamed speech is charged for what reached the client, however the stream ends, and its
hold lives as long as the stream does (a reaper with a 3 s hold lifetime runs beside it; the
slow stream is a paced provider, since a slow reader's answer may sit whole in socket buffers)."""

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningGateway
from tests.gateway_process import (
    SIM_KEYS,
    RunningSimulator,
    routed_gateway,
    start_gateway,
    stop_gateway,
)

HOLD_TTL_SECONDS = 3
PCM_BYTES_PER_MS = 48  # 24 kHz, 16-bit, mono
SENTENCES = " ".join(f"This is sentence number {n} of a long spoken answer." for n in range(10))
BODY = {"model": "local-tts", "input": SENTENCES, "voice": "alloy", "response_format": "pcm"}


@pytest.fixture(scope="module")
def short_holds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    env = {
        "VOXGATE_HOLD_TTL_SECONDS": str(HOLD_TTL_SECONDS),
        "VOXGATE_REAPER_INTERVAL_SECONDS": "0.25",
    }
    process, running = start_gateway(Path(tmp_path_factory.mktemp("short-holds")), env)
    yield running
    stop_gateway(process)


def settled_record(client: httpx.Client) -> dict[str, Any]:
    """The stream's one usage record, once its hold is closed."""
    deadline = time.monotonic() + 60
    while client.get("/api/v1/balance").json()["held_micro_usd"]:
        assert time.monotonic() < deadline, "the stream's hold was never closed"
        time.sleep(0.1)
    [record] = client.get("/api/v1/usage").json()["data"]
    return record


def test_a_hang_up_mid_stream_is_charged_for_what_was_delivered(
    short_holds: RunningGateway,
) -> None:
    key = short_holds.new_workspace(f"hang-up-{secrets.token_hex(4)}", "1.00")
    with short_holds.client(key) as client:
        before = client.get("/api/v1/balance").json()["balance_micro_usd"]
        received = 0
        with client.stream("POST", "/v1/audio/speech", json=BODY) as response:
            assert response.status_code == 200
            for chunk in response.iter_raw():
                received += len(chunk)
                if received >= 2 * 24_000 * 2:  # two seconds of audio, then hang up
                    break
        record = settled_record(client)
        after = client.get("/api/v1/balance").json()["balance_micro_usd"]
    assert (record["status"], record["http_status"]) == ("partial", 499)
    assert record["error_code"] == "client_closed_request"
    # At least what the client read, and less than the whole answer (about 40 s).
    assert received / PCM_BYTES_PER_MS <= record["audio_milliseconds"] < 30_000
    assert record["charged_micro_usd"] == record["cost_micro_usd"] > 0
    assert before - after == record["charged_micro_usd"]


@pytest.fixture(scope="module")
def paced_upstream(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = Path(tmp_path_factory.mktemp("paced-holds"))
    with routed_gateway(
        root,
        VOXGATE_HOLD_TTL_SECONDS=str(HOLD_TTL_SECONDS),
        VOXGATE_REAPER_INTERVAL_SECONDS="0.25",
        # Longer than the pace, which would otherwise be a stalled upstream.
        VOXGATE_UPSTREAM_TIMEOUT_SECONDS=str(2 * HOLD_TTL_SECONDS),
    ) as pair:
        yield pair


def test_a_stream_slower_than_the_hold_lifetime_is_charged_in_full(
    paced_upstream: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = paced_upstream
    key = gateway.new_workspace(f"slow-{secrets.token_hex(4)}", "1.00")
    # The provider sends a chunk every hold lifetime: the stream outlives its hold three times
    # over while the reaper runs every 0.25 s.
    interval_ms = HOLD_TTL_SECONDS * 1000
    sim.queue_faults(
        SIM_KEYS["primary"],
        {"kind": "paced", "first_chunk_ms": 0, "chunk_interval_ms": interval_ms},
    )
    body = {"model": "gpt-4o-mini-tts", "input": "Slow.", "response_format": "pcm"}
    with gateway.client(key) as client:
        before = client.get("/api/v1/balance").json()["balance_micro_usd"]
        received, chunks = 0, 0
        started = time.monotonic()
        with client.stream("POST", "/v1/audio/speech", json=body) as response:
            assert response.status_code == 200
            for chunk in response.iter_raw():
                received, chunks = received + len(chunk), chunks + 1
                # Still streaming: the hold must still be there, whatever its lifetime.
                assert client.get("/api/v1/balance").json()["held_micro_usd"] > 0
        assert time.monotonic() - started > 3 * HOLD_TTL_SECONDS
        record = settled_record(client)
        after = client.get("/api/v1/balance").json()["balance_micro_usd"]
    assert chunks >= 4
    assert (record["status"], record["http_status"]) == ("succeeded", 200)
    assert record["audio_milliseconds"] == pytest.approx(received / PCM_BYTES_PER_MS, abs=1)
    assert record["charged_micro_usd"] == record["cost_micro_usd"] > 0
    assert before - after == record["charged_micro_usd"]
