"""Audio on the unified endpoint is limited in audio terms: its decoded size (the gateway's own
bound on one file) and its duration (`max_audio_seconds`), not the 32,000 characters a text
input may take; text keeps its limit. Each refusal is a clear OpenAI-shape error that holds nothing."""

import base64
import io
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tests.audio_probe import probe
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway
from voxgate.gateway.inputs import MAX_AUDIO_BYTES

MAX_AUDIO_SECONDS = 60
RATE = 24_000


def spoken_wav(seconds: float) -> bytes:
    """Mono 16-bit WAV of rising tones, `seconds` long."""
    t = np.arange(int(RATE * seconds)) / RATE
    samples = (np.sin(2 * np.pi * (220 + 40 * (t % 5)) * t) * 8000).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(samples.tobytes())
    return out.getvalue()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = tmp_path_factory.mktemp("audio-limits")
    # A body that can carry a file past the gateway's bound as base64.
    body_bytes = str(2 * MAX_AUDIO_BYTES)
    with routed_gateway(
        root, VOXGATE_MAX_AUDIO_SECONDS=str(MAX_AUDIO_SECONDS), VOXGATE_MAX_BODY_BYTES=body_bytes
    ) as served:
        yield served


def post(gateway: RunningGateway, body: dict[str, object]) -> httpx.Response:
    with gateway.client() as client:
        return client.post("/api/v1/audio", json=body)


def balance(gateway: RunningGateway) -> tuple[int, int]:
    with gateway.client() as client:
        books = client.get("/api/v1/balance").json()
    return books["balance_micro_usd"], books["held_micro_usd"]


@pytest.mark.parametrize("task", ["transcription", "auto"])
def test_a_30_second_wav_transcribes_on_gpt_audio_1_5(
    served: tuple[RunningGateway, RunningSimulator], task: str
) -> None:
    gateway, sim = served
    audio = spoken_wav(30)
    value = "data:audio/wav;base64," + base64.b64encode(audio).decode()
    assert len(value) > 32_000 * 30
    sim.reset()
    response = post(gateway, {"model": "gpt-audio-1.5", "task": task, "input": value})
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["object"] == "audio.transcription" and reply["data"]["text"]
    # The provider got all 30 seconds.
    (call,) = [r for r in sim.requests() if r["path"].endswith("/chat/completions")]
    parts = [
        p for m in call["body"]["messages"] for p in m["content"] if isinstance(m["content"], list)
    ]
    (heard,) = [p["input_audio"]["data"] for p in parts if p.get("type") == "input_audio"]
    assert probe(base64.b64decode(heard)).duration_seconds == pytest.approx(30, abs=0.1)


def test_text_keeps_the_32000_character_limit(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    response = post(
        gateway, {"model": "gpt-audio-1.5", "task": "audio_chat", "input": "x" * 32_001}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("input", "string_above_max_length")


def test_audio_past_the_duration_limit_is_400_naming_input(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    before = balance(gateway)
    value = base64.b64encode(spoken_wav(MAX_AUDIO_SECONDS + 1)).decode()
    response = post(gateway, {"model": "gpt-audio-1.5", "task": "transcription", "input": value})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("input", "audio_too_long")
    assert f"{MAX_AUDIO_SECONDS} seconds" in error["message"]
    assert balance(gateway) == before


def test_audio_past_the_gateways_bound_is_413_naming_input(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    before = balance(gateway)
    # A WAV header and samples past the bound (within no duration limit that matters here:
    # the size is refused before anything is decoded).
    audio = spoken_wav(1)[:44] + bytes(MAX_AUDIO_BYTES)
    value = base64.b64encode(audio).decode()
    response = post(gateway, {"model": "whisper-1", "task": "transcription", "input": value})
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("input", "audio_too_large")
    assert f"{MAX_AUDIO_BYTES // (1024 * 1024)} MB" in error["message"]
    assert balance(gateway) == before
