import base64

import pytest

from voxgate.catalog.loader import load_catalog
from voxgate.gateway.tasks import looks_like_audio, resolve_task
from voxgate.gateway.validation import validate
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)
WAV = base64.b64encode(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64)).decode()


@pytest.mark.parametrize(
    ("model", "task", "audio_input", "expected"),
    [
        ("local-tts", "auto", False, "tts"),
        ("local-whisper-base", "auto", True, "transcription"),
        ("local-whisper-base", "translation", True, "translation"),
        ("gpt-audio-1.5", "auto", False, "audio_chat"),
        ("gpt-audio-1.5", "auto", True, "transcription"),
        ("gpt-audio-1.5", "tts", False, "tts"),
    ],
)
def test_auto_resolves_from_model_and_input(
    model: str, task: str, audio_input: bool, expected: str
) -> None:
    text = WAV if audio_input else "Hello there, how are you?"
    row, request = validate({"model": model, "task": task, "input": text}, CATALOG)
    assert resolve_task(row, request) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("data:audio/ogg;base64,T2dnUw==", True),
        ("data:text/plain;base64,aGVsbG8=", False),
        (WAV, True),
        (base64.b64encode(b"ID3\x04" + bytes(40)).decode(), True),
        (base64.b64encode(b"\x00\x00\x00\x20ftypM4A " + bytes(40)).decode(), True),
        (base64.b64encode(b"just some words that are not audio").decode(), False),
        ("Hello, world", False),
    ],
)
def test_looks_like_audio(value: str, expected: bool) -> None:
    assert looks_like_audio(value) is expected
