"""Pipecat's OpenAI TTS and STT services with base_url at the gateway, without a transport."""

import base64
from typing import Any

import pytest

from tests.audio_probe import probe_pcm16
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
    return run_python_client("pipecat_calls.py", served)


def test_tts_yields_24_khz_pcm_frames(results: dict[str, Any]) -> None:
    answer = succeeded(results, "tts")
    assert answer["model"] == "gpt-4o-mini-tts" and answer["frames"] >= 1
    assert answer["sample_rates"] == [24_000] and answer["channels"] == [1]
    found = probe_pcm16(base64.b64decode(answer["pcm"]))
    assert found.duration_seconds > 0.5 and found.peak > 0.05


def test_stt_on_the_default_model(results: dict[str, Any]) -> None:
    answer = succeeded(results, "stt_default")
    assert answer["model"] == "gpt-transcribe"
    [text] = answer["transcriptions"]
    assert_heard(text)


def test_stt_on_whisper_1(results: dict[str, Any]) -> None:
    answer = succeeded(results, "stt_whisper_1")
    assert answer["transcriptions"] == [FAST_TRANSCRIPT]
