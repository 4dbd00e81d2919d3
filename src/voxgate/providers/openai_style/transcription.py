"""POST audio/transcriptions and audio/translations: multipart in, verbose JSON out."""

from typing import Any

import aiohttp

from voxgate.audio.encode import encode
from voxgate.providers.errors import UpstreamError
from voxgate.providers.protocols import (
    ProviderUsage,
    TranscriptionRequest,
    TranscriptionResult,
    TranscriptSegment,
)


def form(request: TranscriptionRequest, model: str | None) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field(
        "file", encode(request.audio, "wav"), filename="audio.wav", content_type="audio/wav"
    )
    data.add_field("response_format", "verbose_json")
    if model:
        data.add_field("model", model)
    if request.language and not request.translate:
        data.add_field("language", request.language)
    if request.prompt:
        data.add_field("prompt", request.prompt)
    return data


def result(provider: str, payload: Any, request: TranscriptionRequest) -> TranscriptionResult:
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        raise UpstreamError(provider, "the transcription answer has no text")
    segments = tuple(
        TranscriptSegment(float(s["start"]), float(s["end"]), str(s["text"]).strip())
        for s in payload.get("segments") or ()
    )
    duration = float(payload.get("duration") or request.audio.duration_seconds)
    usage = payload.get("usage") or {}
    seconds = usage.get("seconds") if usage.get("type") == "duration" else None
    return TranscriptionResult(
        text=payload["text"].strip(),
        language=str(payload.get("language") or request.language or "en"),
        duration_seconds=duration,
        segments=segments,
        usage=ProviderUsage(audio_seconds=float(seconds) if seconds is not None else None),
    )
