"""Streamed /v1/audio/transcriptions through the one streamed path, against the simulator: a
model that streams upstream is asked with `stream=true` and each `transcript.text.delta` reaches
the client while the provider is still sending; a failure before the first delta fails over; a
cut after it ends the stream with an error event and bills the whole audio (the provider has
heard all of it); a model that cannot stream (whisper-1) still answers in events.

The official `openai` package reads the streams, and its own event types judge them.
"""

import io
import math
import secrets
import shutil
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
import yaml
from openai.types.audio import (
    TranscriptionStreamEvent,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
)
from pydantic import TypeAdapter

from tests.e2e.test_streaming_path import usage_records
from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator, routed_gateway
from voxgate.settings import Settings

PRIMARY, SECONDARY = SIM_KEYS["primary"], SIM_KEYS["secondary"]
# A row of the test's catalog whose routes are a model that streams, on two OpenAI keys.
STREAMING_MODEL = "streamed-transcribe"
UPSTREAM_MODEL = "gpt-4o-mini-transcribe"
SIM_TRANSCRIPT = "This is the simulator's transcript."  # the fast simulator's, five words
AUDIO_SECONDS = 2.0
# whisper-1 bills $0.006 a minute: two seconds cost 200 micro-USD.
AUDIO_COST_MICRO_USD = 200
FIRST_MS, INTERVAL_MS = 100, 250
# Longer than the test waits for the first event (any wait for one read, in seconds).
HELD_BACK_MS, WAIT_SECONDS = 120_000, 15


def streaming_catalog(directory: Path) -> Path:
    """The shipped catalog with one more row: whisper-1's, served by a streaming model."""
    catalog = directory / "catalog"
    shutil.copytree(
        Settings().catalog_dir, catalog, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    row: dict[str, Any] = yaml.safe_load((catalog / "models" / "whisper-1.yaml").read_text())
    credentials = row["routes"][0]["credentials"]
    secondary = {
        **credentials[0],
        "name": "openai-secondary",
        "api_key_env": "OPENAI_API_KEY_SECONDARY",
    }
    row |= {
        "id": STREAMING_MODEL,
        "name": "Streamed transcription (test)",
        "routes": [
            {
                "provider": "openai",
                "upstream_model": UPSTREAM_MODEL,
                "credentials": [credentials[0], secondary],
            }
        ],
        "example": {**row["example"], "model": STREAMING_MODEL},
    }
    row.pop("aliases")
    row["fields"][0]["accepted"] = [STREAMING_MODEL]
    (catalog / "models" / f"{STREAMING_MODEL}.yaml").write_text(yaml.safe_dump(row))
    return catalog


@pytest.fixture(scope="module")
def routed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = Path(tmp_path_factory.mktemp("transcription-stream"))
    catalog = streaming_catalog(root)
    with routed_gateway(root, VOXGATE_CATALOG_DIR=str(catalog)) as pair:
        yield pair


@pytest.fixture
def key(routed: tuple[RunningGateway, RunningSimulator]) -> str:
    gateway, sim = routed
    sim.reset()
    return gateway.new_workspace(f"transcripts-{secrets.token_hex(4)}", "5.00")


@pytest.fixture
def client(routed: tuple[RunningGateway, RunningSimulator], key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{routed[0].base_url}/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def tone() -> bytes:
    t = np.arange(int(16_000 * AUDIO_SECONDS)) / 16_000
    samples = (np.sin(2 * math.pi * 440 * t) * 6000).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(samples.tobytes())
    return out.getvalue()


def timed_events(
    client: openai.OpenAI, model: str, audio: bytes
) -> list[tuple[float, TranscriptionStreamEvent]]:
    """Each event with the seconds since the request was sent, checked as the SDK's type."""
    # The SDK builds stream events without checking them; its own types judge here.
    checked = TypeAdapter(TranscriptionStreamEvent)
    started = time.monotonic()
    stream = client.audio.transcriptions.create(
        model=model, file=("tone.wav", audio, "audio/wav"), stream=True
    )
    timed = []
    for streamed in stream:
        timed.append((time.monotonic() - started, streamed))
        checked.validate_python(streamed.to_dict())
    return timed


def test_deltas_reach_the_client_while_the_provider_is_still_sending(
    routed: tuple[RunningGateway, RunningSimulator], key: str, client: openai.OpenAI, tone: bytes
) -> None:
    gateway, sim = routed
    sim.queue_faults(
        PRIMARY, {"kind": "paced", "first_chunk_ms": FIRST_MS, "chunk_interval_ms": INTERVAL_MS}
    )
    timed = timed_events(client, STREAMING_MODEL, tone)
    events = [streamed for _, streamed in timed]
    deltas = [e for e in events if isinstance(e, TranscriptionTextDeltaEvent)]
    assert len(deltas) == len(SIM_TRANSCRIPT.split()) and len(events) == len(deltas) + 1
    done = events[-1]
    assert isinstance(done, TranscriptionTextDoneEvent) and done.text == SIM_TRANSCRIPT
    assert "".join(d.delta for d in deltas) == SIM_TRANSCRIPT
    # The provider's own usage (its audio tokens) reaches the client as it sent it.
    assert done.usage is not None and done.usage.type == "tokens"
    # The simulator sends one event every INTERVAL_MS: the last cannot arrive sooner. (That the
    # first arrives before the rest were sent is the next test's, judged by order.)
    done_at = timed[-1][0]
    assert done_at >= (FIRST_MS + (len(events) - 1) * INTERVAL_MS) / 1000
    with gateway.client(key) as http:
        [record] = usage_records(http)
    assert record["status"] == "succeeded"
    assert record["audio_milliseconds"] == AUDIO_SECONDS * 1000
    assert record["charged_micro_usd"] == AUDIO_COST_MICRO_USD


def test_the_first_delta_reaches_the_client_while_the_provider_holds_the_rest_back(
    routed: tuple[RunningGateway, RunningSimulator], client: openai.OpenAI, tone: bytes
) -> None:
    _, sim = routed
    # The provider sends its first event, then holds the rest back longer than the test waits:
    # a delta that reaches the client at all went out while the provider was still sending.
    # Judged by that order, not by gaps between arrivals, which a loaded machine merges.
    sim.queue_faults(
        PRIMARY, {"kind": "paced", "first_chunk_ms": FIRST_MS, "chunk_interval_ms": HELD_BACK_MS}
    )
    with client.with_options(timeout=WAIT_SECONDS).audio.transcriptions.create(
        model=STREAMING_MODEL, file=("tone.wav", tone, "audio/wav"), stream=True
    ) as stream:
        first = next(iter(stream))
    assert isinstance(first, TranscriptionTextDeltaEvent)
    # From the paced key itself, not from a failover after it timed out.
    assert [call["credential"] for call in sim.requests()] == [PRIMARY]


def test_stream_true_goes_upstream_in_the_json_format(
    routed: tuple[RunningGateway, RunningSimulator], client: openai.OpenAI, tone: bytes
) -> None:
    _, sim = routed
    timed_events(client, STREAMING_MODEL, tone)
    [call] = sim.requests()
    form = call["form"]
    assert form["stream"] == ["true"] and form["response_format"] == ["json"]
    assert form["model"] == [UPSTREAM_MODEL]


def test_a_failure_before_the_first_delta_fails_over(
    routed: tuple[RunningGateway, RunningSimulator], key: str, client: openai.OpenAI, tone: bytes
) -> None:
    gateway, sim = routed
    sim.queue_faults(PRIMARY, {"kind": "500"})
    events = [streamed for _, streamed in timed_events(client, STREAMING_MODEL, tone)]
    assert isinstance(events[-1], TranscriptionTextDoneEvent)
    assert events[-1].text == SIM_TRANSCRIPT
    calls = sim.requests()
    assert [call["credential"] for call in calls] == [PRIMARY, SECONDARY]
    assert all(call["form"]["stream"] == ["true"] for call in calls)
    with gateway.client(key) as http:
        [record] = usage_records(http)
    assert [attempt["status"] for attempt in record["attempts"]] == ["500", "ok"]


def test_a_cut_after_the_first_delta_ends_the_stream_and_bills_the_audio(
    routed: tuple[RunningGateway, RunningSimulator], key: str, client: openai.OpenAI, tone: bytes
) -> None:
    gateway, sim = routed
    sim.queue_faults(PRIMARY, {"kind": "cut"})
    received: list[Any] = []
    stream = client.audio.transcriptions.create(
        model=STREAMING_MODEL, file=("tone.wav", tone, "audio/wav"), stream=True
    )
    # The gateway's error event, which the SDK raises, ends the stream: not a dropped socket.
    with pytest.raises(openai.APIError) as ended:
        received.extend(stream)
    assert not isinstance(ended.value, openai.APIConnectionError)
    assert [type(e) for e in received] == [TranscriptionTextDeltaEvent]
    assert [call["credential"] for call in sim.requests()] == [PRIMARY]  # no failover now
    with gateway.client(key) as http:
        [record] = usage_records(http)
    assert (record["status"], record["http_status"]) == ("partial", 502)
    # The provider heard the whole upload before its first word: all of it is billed.
    assert record["audio_milliseconds"] == AUDIO_SECONDS * 1000
    assert record["charged_micro_usd"] == AUDIO_COST_MICRO_USD


def test_a_model_that_cannot_stream_still_answers_in_events(
    routed: tuple[RunningGateway, RunningSimulator], key: str, client: openai.OpenAI, tone: bytes
) -> None:
    """whisper-1 ignores `stream` at OpenAI: the gateway asks for the whole answer and sends it
    as one delta and the done event."""
    gateway, sim = routed
    events = [streamed for _, streamed in timed_events(client, "whisper-1", tone)]
    assert [type(e) for e in events] == [TranscriptionTextDeltaEvent, TranscriptionTextDoneEvent]
    delta, done = events
    assert isinstance(delta, TranscriptionTextDeltaEvent)
    assert isinstance(done, TranscriptionTextDoneEvent)
    assert delta.delta == done.text == SIM_TRANSCRIPT
    [call] = sim.requests()
    assert "stream" not in call["form"]
    with gateway.client(key) as http:
        [record] = usage_records(http)
    assert record["status"] == "succeeded"
    assert record["charged_micro_usd"] == AUDIO_COST_MICRO_USD


def test_a_server_that_ignores_stream_is_answered_in_events_without_failing_over(
    routed: tuple[RunningGateway, RunningSimulator], key: str, client: openai.OpenAI, tone: bytes
) -> None:
    gateway, sim = routed
    # The first key's server answers whole, in JSON, whatever `stream` says.
    sim.queue_faults(PRIMARY, {"kind": "unstreamed"})
    events = [streamed for _, streamed in timed_events(client, STREAMING_MODEL, tone)]
    assert [type(e) for e in events] == [TranscriptionTextDeltaEvent, TranscriptionTextDoneEvent]
    assert events[-1].text == SIM_TRANSCRIPT
    assert [call["credential"] for call in sim.requests()] == [PRIMARY]
    with gateway.client(key) as http:
        [record] = usage_records(http)
    assert [attempt["status"] for attempt in record["attempts"]] == ["ok"]
    assert record["charged_micro_usd"] == AUDIO_COST_MICRO_USD
