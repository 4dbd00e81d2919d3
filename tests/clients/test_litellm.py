"""LiteLLM's SDK (the openai/ provider, api_base at the gateway) on speech, transcription with
word timestamps, and audio chat unary and streamed."""

import base64
from typing import Any

import pytest

from tests.audio_probe import probe, probe_pcm16
from tests.clients.conftest import Served, needs_clients_venv, run_python_client, succeeded
from voxgate.simulator.engine import FAST_TRANSCRIPT

pytestmark = needs_clients_venv


@pytest.fixture(scope="module")
def results(served: Served) -> dict[str, Any]:
    return run_python_client("litellm_calls.py", served)


def test_speech_is_a_wav_that_decodes(results: dict[str, Any]) -> None:
    found = probe(base64.b64decode(succeeded(results, "speech")["audio"]))
    assert (found.container, found.codec) == ("wav", "pcm_s16le")
    assert found.duration_seconds > 0.5 and found.peak > 0.05


def test_transcription_on_whisper_1_has_word_timestamps(results: dict[str, Any]) -> None:
    answer = succeeded(results, "transcription")
    assert answer["text"] == FAST_TRANSCRIPT
    words = answer["words"]
    assert [w["word"] for w in words or []] == FAST_TRANSCRIPT.split(), answer["raw"]
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and all(w["end"] >= w["start"] for w in words)


def test_audio_chat_answers_with_audio(results: dict[str, Any]) -> None:
    answer = succeeded(results, "completion")
    assert answer["finish_reason"] == "stop"
    assert answer["transcript"] and answer["audio_id"]
    found = probe(base64.b64decode(answer["audio"]))
    assert found.duration_seconds > 0.5 and found.peak > 0.05
    assert answer["usage"]["completion_tokens_details"]["audio_tokens"] > 0


def test_audio_chat_hears_an_input_audio_part(results: dict[str, Any]) -> None:
    answer = succeeded(results, "completion_hearing_audio")
    # The upstream decoded the WAV (its audio tokens) and answered what it heard.
    assert answer["usage"]["prompt_tokens_details"]["audio_tokens"] > 0
    assert FAST_TRANSCRIPT in answer["transcript"]


def test_an_unknown_model_is_litellms_not_found_error(results: dict[str, Any]) -> None:
    outcome = results["unknown_model"]
    assert "error" in outcome, outcome
    assert outcome["error"]["type"] == "litellm.exceptions.NotFoundError"
    assert "no-such-model" in outcome["error"]["message"]


def test_streamed_audio_chat_delivers_pcm_and_transcript(results: dict[str, Any]) -> None:
    answer = succeeded(results, "completion_streamed")
    assert answer["audio_pieces"] and answer["transcript"]
    pcm = b"".join(base64.b64decode(piece) for piece in answer["audio_pieces"])
    found = probe_pcm16(pcm)
    assert found.duration_seconds > 0.5 and found.peak > 0.05
    assert answer["finish_reasons"] == ["stop"]
