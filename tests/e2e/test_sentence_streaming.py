"""Speech from a route that answers whole (Gemini at another speed than 1, which the gateway
time-stretches) streams to the official SDK a sentence at a time, joined without clicks."""

import secrets
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import openai
import pytest

from tests.audio_probe import probe
from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator, routed_gateway

SENTENCES = [
    "The first train leaves at nine.",
    "Tickets are sold at the desk!",
    "Will the late train stop here?",
    "Yes, it stops here at midnight.",
]
RATE = 24_000


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    # An upstream that stalls is waited on far longer than a test waits for a hung-up stream.
    root = tmp_path_factory.mktemp("sentence-streaming")
    with routed_gateway(root, VOXGATE_UPSTREAM_TIMEOUT_SECONDS="300") as served:
        yield served


def spoken_requests(sim: RunningSimulator) -> list[str]:
    return [
        request["body"]["contents"][0]["parts"][0]["text"]
        for request in sim.requests()
        if "generateContent" in request["path"]
    ]


def streamed(client: openai.OpenAI, response_format: str) -> bytes:
    with client.audio.speech.with_streaming_response.create(
        model="gemini-2.5-flash-tts",
        voice="alloy",
        input=" ".join(SENTENCES),
        response_format=response_format,  # type: ignore[arg-type]
        speed=1.5,
    ) as response:
        return b"".join(response.iter_bytes())


@pytest.fixture
def client(served: tuple[RunningGateway, RunningSimulator]) -> openai.OpenAI:
    gateway, sim = served
    sim.reset()
    key = gateway.new_workspace(f"sentences-{secrets.token_hex(4)}", "5.00")
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)


def settled_record(gateway: RunningGateway, key: str) -> dict[str, Any]:
    """The request's one usage record, once its hold is closed."""
    with gateway.client(key) as http:
        deadline = time.monotonic() + 60
        while http.get("/api/v1/balance").json()["held_micro_usd"]:
            assert time.monotonic() < deadline, "the stream's hold was never closed"
            time.sleep(0.1)
        [record] = http.get("/api/v1/usage").json()["data"]
    return dict(record)


def test_whole_answers_stream_a_sentence_at_a_time_without_clicks(
    served: tuple[RunningGateway, RunningSimulator], client: openai.OpenAI
) -> None:
    pcm = streamed(client, "pcm")
    assert spoken_requests(served[1]) == SENTENCES
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    # No step at a join larger than the steepest step within the simulator's tone (a 440 Hz
    # sine of amplitude 6,000 at 24 kHz moves at most 691 a sample).
    assert np.abs(np.diff(samples)).max() <= 700


def test_the_pieces_come_in_the_format_asked_for(
    served: tuple[RunningGateway, RunningSimulator], client: openai.OpenAI
) -> None:
    mp3 = probe(streamed(client, "mp3"))
    assert mp3.container == "mp3"
    pcm = np.frombuffer(streamed(client, "pcm"), dtype="<i2")
    assert mp3.duration_seconds == pytest.approx(len(pcm) / RATE, abs=0.1)
    assert spoken_requests(served[1]) == SENTENCES * 2


def test_a_hang_up_stops_the_sentences_still_to_come(
    served: tuple[RunningGateway, RunningSimulator], client: openai.OpenAI
) -> None:
    gateway, sim = served
    # The first sentence is answered; the second stalls upstream until the gateway gives up.
    sim.queue_faults(SIM_KEYS["gemini"], {"kind": "paced"}, {"kind": "timeout"})
    with client.audio.speech.with_streaming_response.create(
        model="gemini-2.5-flash-tts",
        voice="alloy",
        input=" ".join(SENTENCES),
        response_format="pcm",
        speed=1.5,
    ) as response:
        first = next(response.iter_bytes())
    assert first
    record = settled_record(gateway, client.api_key)
    assert (record["status"], record["error_code"]) == ("partial", "client_closed_request")
    assert record["charged_micro_usd"] == record["cost_micro_usd"] > 0
    assert spoken_requests(sim) == SENTENCES[:2]
