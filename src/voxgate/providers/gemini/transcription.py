"""Gemini speech-to-text: the audio inline with a fixed prompt, a JSON answer {text, language}."""

import base64
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from voxgate.audio.encode import wav
from voxgate.providers.errors import UpstreamError
from voxgate.providers.gemini.responses import parts, usage
from voxgate.providers.protocols import TranscriptionRequest, TranscriptionResult

# The containers Gemini documents for inline audio, by the name `gateway.inputs.container_of`
# gives them (its Ogg is Vorbis; a client's Ogg is mostly Opus, so it goes as WAV).
ACCEPTED_CONTAINERS: Mapping[str, str] = MappingProxyType(
    {"wav": "audio/wav", "mp3": "audio/mp3", "aac": "audio/aac", "flac": "audio/flac"}
)

TRANSCRIBE = "Transcribe the speech verbatim. Give its ISO 639-1 language code."
TRANSLATE = "Translate the speech into English. Give the ISO 639-1 code of the language spoken."
ANSWER_SCHEMA = {
    "type": "OBJECT",
    "properties": {"text": {"type": "STRING"}, "language": {"type": "STRING"}},
    "required": ["text", "language"],
    "propertyOrdering": ["text", "language"],
}


def body(request: TranscriptionRequest) -> dict[str, Any]:
    prompt = TRANSLATE if request.translate else TRANSCRIBE
    if request.prompt:
        prompt += f" Context: {request.prompt}"
    mime_type, audio = _audio(request)
    inline = {"mimeType": mime_type, "data": base64.b64encode(audio).decode()}
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}, {"inlineData": inline}]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": ANSWER_SCHEMA,
        },
    }


def result(provider: str, payload: Any, request: TranscriptionRequest) -> TranscriptionResult:
    text = "".join(str(part.get("text", "")) for part in parts(provider, payload))
    try:
        answer = orjson.loads(text)
        spoken, language = str(answer["text"]), str(answer["language"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise UpstreamError(provider, "the transcription answer is not the JSON asked for") from exc
    return TranscriptionResult(
        text=spoken.strip(),
        language=request.language or language.lower(),
        duration_seconds=request.audio.duration_seconds,
        usage=usage(payload, audio_out=False),
    )


def _audio(request: TranscriptionRequest) -> tuple[str, bytes]:
    """The client's file when Gemini takes its container; otherwise the decoded 16 kHz WAV."""
    if request.upload is not None:
        mime_type = ACCEPTED_CONTAINERS.get(request.container or "")
        if mime_type is not None:
            return mime_type, request.upload
    return "audio/wav", wav(request.audio)
