"""An uploaded audio file reaches the provider as the bytes the client sent: a multipart `file`
is carried as bytes from the form to the job, and the JSON surface's base64 `input` is decoded
into the same bytes."""

import base64
import io
import wave
from pathlib import Path

import pytest

from voxgate.catalog.loader import load_catalog
from voxgate.errors import InvalidRequestError
from voxgate.gateway.validation import validate
from voxgate.providers.protocols import TranscriptionRequest, TranscriptionResult, Upstream
from voxgate.settings import Settings
from voxgate.testing import FakeProvider, InProcessGateway

CATALOG = load_catalog(Settings().catalog_dir)


def silent_wav(seconds: float = 0.5, rate: int = 16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\0\0" * round(seconds * rate))
    return out.getvalue()


class Listener(FakeProvider):
    """A fake that keeps each transcription request it is sent."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.heard: list[TranscriptionRequest] = []

    async def transcribe(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> TranscriptionResult:
        self.heard.append(request)
        return await super().transcribe(request, upstream)


async def test_a_multipart_file_and_a_base64_input_reach_the_provider_as_sent(
    data_dir: Path,
) -> None:
    wav = silent_wav()
    openai = Listener("openai")
    async with InProcessGateway(data_dir, providers=[openai]) as vox:
        multipart = await vox.openai.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", wav, "audio/wav")
        )
        unified = await vox.http.post(
            "/api/v1/audio",
            json={
                "model": "whisper-1",
                "task": "transcription",
                "input": base64.b64encode(wav).decode(),
            },
        )
    assert multipart.text == openai.transcript
    assert unified.status_code == 200, unified.text
    assert [(request.upload, request.container) for request in openai.heard] == [
        (wav, "wav"),
        (wav, "wav"),
    ]
    assert [request.audio.duration_seconds for request in openai.heard] == [0.5, 0.5]


def test_uploaded_bytes_are_the_request_s_upload_not_its_text() -> None:
    wav = silent_wav()
    _, request = validate({"model": "whisper-1", "task": "transcription", "input": wav}, CATALOG)
    assert (request.input, request.upload) == ("", wav)
    assert request.holds_audio and request.audio_file() == wav
    assert repr(wav[:8]) not in repr(request)  # a file of megabytes stays out of reprs


def test_an_empty_upload_is_refused_as_an_empty_input() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        validate({"model": "whisper-1", "task": "transcription", "input": b""}, CATALOG)
    assert (refused.value.param, refused.value.code) == ("input", "empty_input")
