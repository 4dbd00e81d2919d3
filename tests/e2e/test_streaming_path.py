"""Streamed speech through the one request path, against the simulator's paced and faulty
streams: the first audio goes out while the provider is still sending; a failure before it
fails over; a failure after it ends the stream and bills what was delivered; a refusal (400)
is final and does not open the circuit breaker."""

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway_process import (
    SIM_KEYS,
    RunningGateway,
    RunningSimulator,
    routed_gateway,
    written_text,
)

PRIMARY, SECONDARY = SIM_KEYS["primary"], SIM_KEYS["secondary"]
BODY = {"model": "gpt-4o-mini-tts", "input": "One, two, three, four.", "response_format": "pcm"}
PACE_MS = 150
# Longer than the test waits for the first audio (any wait for one read, in seconds).
HELD_BACK_MS, WAIT_SECONDS = 120_000, 15


@pytest.fixture(scope="module")
def routed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = Path(tmp_path_factory.mktemp("streaming-path"))
    with routed_gateway(root) as pair:
        yield pair


@pytest.fixture(scope="module")
def tripwire(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    """A gateway whose breaker opens on the first counted failure of a key."""
    root = Path(tmp_path_factory.mktemp("tripwire"))
    with routed_gateway(root, VOXGATE_BREAKER_THRESHOLD="1") as pair:
        yield pair


@pytest.fixture
def key(routed: tuple[RunningGateway, RunningSimulator]) -> str:
    gateway, sim = routed
    sim.reset()
    return gateway.new_workspace(f"streams-{secrets.token_hex(4)}", "5.00")


def timed_stream(
    client: httpx.Client, body: dict[str, Any]
) -> tuple[int, list[tuple[float, bytes]]]:
    """The status, and each chunk with the seconds since the request was sent."""
    started = time.monotonic()
    with client.stream("POST", "/v1/audio/speech", json=body) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, [(0.0, response.content)]
        return 200, [(time.monotonic() - started, chunk) for chunk in response.iter_raw()]


def sse_events(client: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    with client.stream("POST", "/v1/audio/speech", json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def usage_records(client: httpx.Client) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while client.get("/api/v1/balance").json()["held_micro_usd"]:
        assert time.monotonic() < deadline, "the stream's hold was never closed"
        time.sleep(0.05)
    records: list[dict[str, Any]] = client.get("/api/v1/usage").json()["data"]
    return records


def test_first_audio_goes_out_while_the_provider_is_still_sending(
    routed: tuple[RunningGateway, RunningSimulator], key: str
) -> None:
    gateway, sim = routed
    # The provider sends its first chunk, then holds the rest back longer than the test waits:
    # audio that reaches the client at all went out while the provider was still sending.
    # Judged by that order, not by gaps between arrivals, which a loaded machine merges.
    sim.queue_faults(
        PRIMARY, {"kind": "paced", "first_chunk_ms": PACE_MS, "chunk_interval_ms": HELD_BACK_MS}
    )
    with (
        gateway.client(key) as client,
        client.stream("POST", "/v1/audio/speech", json=BODY, timeout=WAIT_SECONDS) as response,
    ):
        assert response.status_code == 200
        first = next(chunk for chunk in response.iter_raw() if chunk)
    assert first
    # From the paced key itself, not from a failover after it timed out.
    assert [call["credential"] for call in sim.requests()] == [PRIMARY]


def test_a_failure_before_the_first_audio_fails_over(
    routed: tuple[RunningGateway, RunningSimulator], key: str
) -> None:
    gateway, sim = routed
    sim.queue_faults(PRIMARY, {"kind": "503"})
    with gateway.client(key) as client:
        status, chunks = timed_stream(client, BODY)
        [record] = usage_records(client)
    assert status == 200 and sum(len(chunk) for _, chunk in chunks) > 0
    assert [call["credential"] for call in sim.requests()] == [PRIMARY, SECONDARY]
    assert [attempt["status"] for attempt in record["attempts"]] == ["503", "ok"]


def test_a_failure_after_the_first_audio_ends_the_stream_and_bills_what_was_delivered(
    routed: tuple[RunningGateway, RunningSimulator], key: str
) -> None:
    gateway, sim = routed
    sim.queue_faults(PRIMARY, {"kind": "cut"})
    with gateway.client(key) as client:
        before = client.get("/api/v1/balance").json()["balance_micro_usd"]
        events = sse_events(client, {**BODY, "stream_format": "sse"})
        [record] = usage_records(client)
        after = client.get("/api/v1/balance").json()["balance_micro_usd"]
    kinds = [event["type"] for event in events]
    assert kinds[0] == "speech.audio.delta" and kinds[-1] == "error", kinds
    delivered = sum(
        len(base64.b64decode(e["audio"])) for e in events if e["type"] == "speech.audio.delta"
    )
    assert [call["credential"] for call in sim.requests()] == [PRIMARY]  # no failover after audio
    assert (record["status"], record["http_status"]) == ("partial", 502)
    assert record["audio_milliseconds"] == pytest.approx(delivered / 48, abs=1)
    assert before - after == record["charged_micro_usd"] == record["cost_micro_usd"] > 0


def test_a_server_that_ignores_stream_format_is_streamed_without_failing_over(
    routed: tuple[RunningGateway, RunningSimulator], key: str
) -> None:
    gateway, sim = routed
    # The first key's server answers with the whole audio, whatever `stream_format` says.
    sim.queue_faults(PRIMARY, {"kind": "unstreamed"})
    with gateway.client(key) as client:
        events = sse_events(client, {**BODY, "stream_format": "sse"})
        [record] = usage_records(client)
    kinds = [event["type"] for event in events]
    assert kinds[-1] == "speech.audio.done" and set(kinds[:-1]) == {"speech.audio.delta"}, kinds
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events if "audio" in e)
    assert len(pcm) == 48_000  # the fast simulator's one-second tone, 24 kHz PCM16
    assert [call["credential"] for call in sim.requests()] == [PRIMARY]
    assert [attempt["status"] for attempt in record["attempts"]] == ["ok"]
    assert (record["status"], record["audio_milliseconds"]) == ("succeeded", 1000)


def test_a_streamed_refusal_is_final_and_leaves_the_breaker_closed(
    tripwire: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = tripwire
    key = gateway.new_workspace(f"tripwire-{secrets.token_hex(4)}", "5.00")
    sim.queue_faults(PRIMARY, {"kind": "400"})
    with gateway.client(key) as client:
        status, _ = timed_stream(client, BODY)
        assert status == 400
        # With a breaker threshold of 1, one counted failure would skip the primary key now.
        status, _ = timed_stream(client, BODY)
        assert status == 200
    assert [call["credential"] for call in sim.requests()] == [PRIMARY, PRIMARY]


def test_a_failure_after_the_first_audio_cuts_the_raw_body_short(
    routed: tuple[RunningGateway, RunningSimulator], key: str
) -> None:
    gateway, sim = routed
    sim.queue_faults(PRIMARY, {"kind": "cut"})
    received = 0
    with gateway.client(key) as client:
        with (
            pytest.raises(httpx.RemoteProtocolError),  # never a body that looks complete
            client.stream("POST", "/v1/audio/speech", json=BODY) as response,
        ):
            assert response.status_code == 200
            for chunk in response.iter_raw():
                received += len(chunk)
        [record] = usage_records(client)
    assert received > 0
    assert (record["status"], record["http_status"]) == ("partial", 502)
    assert record["charged_micro_usd"] == record["cost_micro_usd"] > 0
    assert "Traceback" not in written_text(gateway.output)
