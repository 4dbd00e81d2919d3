import base64
from typing import Any

import pytest

from voxgate.catalog.loader import load_catalog
from voxgate.errors import InvalidRequestError, NotFoundError
from voxgate.gateway.validation import UnifiedRequest, validate
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)


def test_a_valid_seed_request_keeps_its_values() -> None:
    row, request = validate(
        {
            "model": "gpt-audio-1.5",
            "task": "audio_chat",
            "input": "Hi",
            "voice": "alloy",
            "response_format": "mp3",
            "speed": 1,
            "instructions": "Be brief.",
        },
        CATALOG,
    )
    assert row.id == "gpt-audio-1.5"
    assert request == UnifiedRequest(
        model="gpt-audio-1.5",
        task="audio_chat",
        input="Hi",
        voice="alloy",
        response_format="mp3",
        speed=1.0,
        instructions="Be brief.",
    )


def test_task_defaults_to_auto_and_null_optionals_are_absent() -> None:
    _, request = validate({"model": "local-tts", "input": "Hi", "voice": None}, CATALOG)
    assert request.task == "auto"
    assert request.voice is None


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": "local-tts", "input": "hi", "speed": 4.01}, "speed", "out_of_range"),
        ({"model": "local-tts", "input": "hi", "speed": 0.25}, None, None),
        ({"model": "local-tts", "input": "hi", "speed": 4}, None, None),
        ({"model": "local-tts", "input": "hi", "speed": False}, "speed", "invalid_type"),
        ({"model": "local-tts", "input": ["hi"]}, "input", "invalid_type"),
        ({"model": "local-tts", "input": "hi", "extra": 1}, "extra", "unknown_parameter"),
        ({"model": "local-tts", "input": "x" * 4096}, None, None),
        ({"model": "local-tts", "input": "x" * 4097}, "input", "string_above_max_length"),
        ({"model": "local-tts", "input": ""}, "input", "empty_input"),
        ({"model": 7, "input": "hi"}, "model", "invalid_type"),
    ],
)
def test_field_rules(body: dict[str, Any], param: str | None, code: str | None) -> None:
    if code is None:
        validate(body, CATALOG)
        return
    with pytest.raises(InvalidRequestError) as caught:
        validate(body, CATALOG)
    assert (caught.value.param, caught.value.code) == (param, code)


def test_unknown_model_is_not_found() -> None:
    with pytest.raises(NotFoundError) as caught:
        validate({"model": "gpt-5-voice", "input": "hi"}, CATALOG)
    assert caught.value.status_code == 404
    assert "gpt-5-voice" in caught.value.message


# 2.8 s of 24 kHz WAV is 181,408 base64 characters: far past the 32,000 a text input may take.
LONG_WAV = base64.b64encode(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(136_000)).decode()


@pytest.mark.parametrize(
    ("task", "value"),
    [
        ("transcription", LONG_WAV),
        ("translation", LONG_WAV),
        ("auto", LONG_WAV),
        ("auto", "data:audio/wav;base64," + LONG_WAV),
        ("transcription", "data:audio/mpeg;base64," + LONG_WAV),
    ],
)
def test_audio_for_speech_to_text_is_not_held_to_the_text_limit(task: str, value: str) -> None:
    assert len(value) > 32_000
    _, request = validate({"model": "gpt-audio-1.5", "task": task, "input": value}, CATALOG)
    assert request.input == value


@pytest.mark.parametrize(
    ("task", "value"),
    [
        ("audio_chat", "x" * 32_001),
        ("tts", "x" * 32_001),
        ("auto", "x" * 32_001),  # text, so auto is audio chat
        ("audio_chat", LONG_WAV),  # audio sent to a text task is still text to it
    ],
)
def test_text_keeps_its_limit(task: str, value: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate({"model": "gpt-audio-1.5", "task": task, "input": value}, CATALOG)
    assert (caught.value.param, caught.value.code) == ("input", "string_above_max_length")
