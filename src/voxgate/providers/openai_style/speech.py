"""POST audio/speech: JSON in, raw 24 kHz PCM out (the gateway encodes the client's format)."""

from typing import Any

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.protocols import SpeechRequest, SpeechResult

PCM_RATE = 24_000


def body(request: SpeechRequest, model: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "input": request.text,
        "voice": request.voice,
        "response_format": "pcm",
        "speed": request.speed,
    }
    if request.instructions:
        payload["instructions"] = request.instructions
    return payload | ({"model": model} if model else {})


def result(audio: bytes) -> SpeechResult:
    return SpeechResult(PcmAudio(audio[: len(audio) // 2 * 2], PCM_RATE))
