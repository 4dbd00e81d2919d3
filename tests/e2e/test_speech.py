"""Speech on the embedded engine through POST /api/v1/audio, checked by decoding the audio."""

import base64
from decimal import Decimal
from typing import Any

import pytest

from tests.audio_probe import Probe, probe, probe_pcm16
from tests.e2e.conftest import RunningGateway

TEXT = "The gateway turns this sentence into speech on the local engine."

EXPECTED = {
    # format: (content type, decoded codec, decoded sample rate)
    "mp3": ("audio/mpeg", "mp3float", 24_000),
    "wav": ("audio/wav", "pcm_s16le", 24_000),
    "opus": ("audio/ogg", "opus", 48_000),
    "flac": ("audio/flac", "flac", 24_000),
    "aac": ("audio/aac", "aac", 24_000),
    "pcm16": ("audio/pcm", "pcm_s16le", 24_000),
}


def speak(gateway: RunningGateway, **fields: Any) -> dict[str, Any]:
    body = {"model": "local-tts", "input": TEXT, **fields}
    with gateway.client() as client:
        response = client.post("/api/v1/audio", json=body)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def decoded(reply: dict[str, Any], response_format: str) -> Probe:
    data = base64.b64decode(reply["data"]["audio_base64"])
    return probe_pcm16(data) if response_format == "pcm16" else probe(data)


@pytest.mark.parametrize("response_format", sorted(EXPECTED))
def test_every_format_decodes_to_its_codec_and_rate(
    gateway: RunningGateway, response_format: str
) -> None:
    content_type, codec, rate = EXPECTED[response_format]
    reply = speak(gateway, response_format=response_format, voice="coral")
    assert reply["object"] == "audio.speech"
    assert reply["data"]["content_type"] == content_type
    audio = decoded(reply, response_format)
    assert (audio.codec, audio.sample_rate) == (codec, rate)
    assert 2.0 < audio.duration_seconds < 8.0
    assert audio.peak > 0.05, "the audio is silent"


def test_usage_reports_minutes_characters_and_cost(gateway: RunningGateway) -> None:
    reply = speak(gateway, response_format="wav")
    usage = reply["usage"]
    minutes = Decimal(usage["estimated_audio_minutes"])
    assert usage["estimated_audio_minutes"] == f"{minutes:.6f}"
    audio = decoded(reply, "wav")
    assert abs(float(minutes) * 60 - audio.duration_seconds) < 0.1
    assert usage["input_characters"] == len(TEXT)
    # local-tts is priced at $1.00 per 1M characters: one micro-dollar per character.
    assert usage["cost_micro_usd"] == len(TEXT)
    assert usage["cost_usd"] == f"0.{len(TEXT):06d}"


def test_speed_two_halves_the_duration(gateway: RunningGateway) -> None:
    normal = decoded(speak(gateway, response_format="wav", speed=1.0), "wav")
    fast = decoded(speak(gateway, response_format="wav", speed=2.0), "wav")
    assert fast.duration_seconds == pytest.approx(normal.duration_seconds / 2, rel=0.15)


@pytest.mark.parametrize("voice", ["alloy", "onyx", "nova", "joe"])
def test_openai_and_native_voice_names_speak(gateway: RunningGateway, voice: str) -> None:
    audio = decoded(speak(gateway, response_format="flac", voice=voice), "flac")
    assert audio.peak > 0.05
