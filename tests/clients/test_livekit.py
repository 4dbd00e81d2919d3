"""LiveKit Agents' OpenAI plugin (TTS, STT) with base_url at the gateway, outside a room."""

import base64
from typing import Any

import pytest

from tests.audio_probe import probe
from tests.clients.conftest import (
    Served,
    assert_heard,
    needs_clients_venv,
    run_python_client,
    succeeded,
)
from voxgate.simulator.engine import FAST_TRANSCRIPT

pytestmark = needs_clients_venv


@pytest.fixture(scope="module")
def results(served: Served) -> dict[str, Any]:
    return run_python_client("livekit_calls.py", served)


@pytest.mark.parametrize(
    ("call", "model"), [("tts_default", "gpt-4o-mini-tts"), ("tts_1", "tts-1")]
)
def test_tts_frames_decode_as_speech(results: dict[str, Any], call: str, model: str) -> None:
    answer = succeeded(results, call)
    assert answer["model"] == model and answer["frames"] >= 1
    found = probe(base64.b64decode(answer["wav"]))
    assert found.sample_rate == answer["sample_rate"] == 24_000
    assert found.duration_seconds > 0.5 and found.peak > 0.05


def test_stt_on_the_default_model(results: dict[str, Any]) -> None:
    answer = succeeded(results, "stt_default")
    assert answer["model"] == "gpt-4o-mini-transcribe"
    assert answer["type"] == "final_transcript"
    assert_heard(answer["text"])


def test_stt_on_whisper_1(results: dict[str, Any]) -> None:
    # The plugin asks whisper-1 for verbose_json; a body the SDK could not parse would raise.
    answer = succeeded(results, "stt_whisper_1")
    assert answer["type"] == "final_transcript" and answer["text"] == FAST_TRANSCRIPT
