"""Gemini generateContent as the simulator serves it: TTS with prebuilt voices, and
transcription of inline audio with a JSON answer."""

import base64
import binascii
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from voxgate.audio.decode import AudioDecodeError, decode
from voxgate.simulator.engine import RATE, SimEngine
from voxgate.simulator.voices import GEMINI_VOICES
from voxgate.simulator.wire import SimError, json_response


async def generate_content(request: Request, engine: SimEngine) -> Response:
    try:
        body = await request.json()
        parts = body["contents"][0]["parts"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise SimError(400, "contents[0].parts is required") from exc
    config = body.get("generationConfig") or {}
    if "AUDIO" in (config.get("responseModalities") or []):
        return await _speech(engine, parts, config)
    return await _transcription(engine, parts)


async def _speech(engine: SimEngine, parts: list[Any], config: dict[str, Any]) -> Response:
    voice = (
        ((config.get("speechConfig") or {}).get("voiceConfig") or {}).get("prebuiltVoiceConfig")
        or {}
    ).get("voiceName")
    if voice not in GEMINI_VOICES:
        raise SimError(400, f"Voice name {voice} is not supported.")
    text = " ".join(str(part.get("text", "")) for part in parts)
    audio = await engine.speak(text)
    inline = {
        "mimeType": f"audio/L16;codec=pcm;rate={RATE}",
        "data": base64.b64encode(audio.samples).decode(),
    }
    return _candidate(
        {"inlineData": inline}, prompt=len(text.split()), out=round(audio.duration_seconds * 25)
    )


async def _transcription(engine: SimEngine, parts: list[Any]) -> Response:
    prompt = " ".join(str(part.get("text", "")) for part in parts if "text" in part)
    inline = next((part["inlineData"] for part in parts if "inlineData" in part), None)
    if inline is None:
        raise SimError(400, "an inlineData audio part is required")
    try:
        audio = decode(
            base64.b64decode(inline.get("data", ""), validate=True),
            sample_rate=16_000,
            max_seconds=1500,
        )
    except (binascii.Error, ValueError, AudioDecodeError) as exc:
        raise SimError(400, "inlineData is not audio") from exc
    heard = await engine.hear(audio, translate="translate" in prompt.lower())
    answer = orjson.dumps({"text": heard.text, "language": heard.language}).decode()
    return _candidate(
        {"text": answer}, prompt=round(audio.duration_seconds * 32), out=len(heard.text.split())
    )


def _candidate(part: dict[str, Any], *, prompt: int, out: int) -> Response:
    return json_response(
        {
            "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": out,
                "totalTokenCount": prompt + out,
            },
        }
    )
