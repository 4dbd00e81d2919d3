"""Gemini speech-to-text: the audio inline with a fixed prompt, a JSON answer {text, language}."""

import base64
from typing import Any

import orjson

from voxgate.audio.encode import encode
from voxgate.providers.errors import UpstreamError
from voxgate.providers.gemini.responses import parts, usage
from voxgate.providers.protocols import TranscriptionRequest, TranscriptionResult

TRANSCRIBE = "Transcribe the speech verbatim. Give its ISO 639-1 language code."
TRANSLATE = "Translate the speech into English. Give the ISO 639-1 code of the language spoken."
ANSWER_SCHEMA = {
    "type": "OBJECT",
    "properties": {"text": {"type": "STRING"}, "language": {"type": "STRING"}},
    "required": ["text", "language"],
}


def body(request: TranscriptionRequest) -> dict[str, Any]:
    prompt = TRANSLATE if request.translate else TRANSCRIBE
    if request.prompt:
        prompt += f" Context: {request.prompt}"
    audio = base64.b64encode(encode(request.audio, "wav")).decode()
    return {
        "contents": [
            {"parts": [{"text": prompt}, {"inlineData": {"mimeType": "audio/wav", "data": audio}}]}
        ],
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
