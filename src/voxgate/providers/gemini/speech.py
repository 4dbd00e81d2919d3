"""Gemini TTS: responseModalities AUDIO with a prebuilt voice; 24 kHz L16 PCM back, whole from
generateContent or a piece per event from streamGenerateContent."""

import base64
import binascii
import re
from typing import Any

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.tempo import change_tempo
from voxgate.providers.errors import UpstreamError
from voxgate.providers.gemini.responses import parts, usage
from voxgate.providers.protocols import SpeechRequest, SpeechResult

_RATE = re.compile(r"rate=(\d+)")
DEFAULT_RATE = 24_000
# Gemini bills 25 tokens a second of the audio it makes.
AUDIO_TOKENS_PER_SECOND = 25


def body(request: SpeechRequest) -> dict[str, Any]:
    # Gemini takes its style as words in the prompt; there is no instructions field.
    text = f"{request.instructions}: {request.text}" if request.instructions else request.text
    config: dict[str, Any] = {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": request.voice}}},
    }
    if request.max_output_tokens:
        config["maxOutputTokens"] = request.max_output_tokens
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], "generationConfig": config}


def result(provider: str, payload: Any, speed: float) -> SpeechResult:
    pcm = audio(provider, payload)
    if pcm is None:
        raise UpstreamError(provider, "the answer carries no audio", retriable=True)
    # Gemini has no speed setting, so the gateway time-stretches what comes back; it billed
    # the audio it made.
    return SpeechResult(
        change_tempo(pcm, speed), usage(payload, audio_out=True), pcm.duration_seconds
    )


def audio(provider: str, payload: Any) -> PcmAudio | None:
    """The audio of one answer, or of one streamed event; None when it carries none."""
    inline = next((p["inlineData"] for p in parts(provider, payload) if "inlineData" in p), None)
    if inline is None:
        return None
    try:
        samples = base64.b64decode(inline["data"], validate=True)
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise UpstreamError(provider, "the answer's audio is not base64", retriable=True) from exc
    rate = _RATE.search(str(inline.get("mimeType", "")))
    return PcmAudio(samples[: len(samples) // 2 * 2], int(rate.group(1)) if rate else DEFAULT_RATE)
