"""The OpenAI audio endpoints as the simulator serves them (Azure OpenAI uses the same bodies)."""

import base64
import binascii
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from voxgate.audio.decode import AudioDecodeError, decode
from voxgate.audio.encode import encode
from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.audio.pcm import PcmAudio
from voxgate.simulator.engine import SimEngine
from voxgate.simulator.voices import OPENAI_VOICES
from voxgate.simulator.wire import SimError, json_response
from voxgate.types import AudioFormat

SPEECH_FORMATS: dict[str, AudioFormat] = {
    "mp3": "mp3",
    "opus": "opus",
    "aac": "aac",
    "flac": "flac",
    "wav": "wav",
    "pcm": "pcm16",
}
MAX_SPEECH_CHARACTERS = 4096
SSE_PIECE_BYTES = 12_001
TOKENS_PER_SECOND_IN, TOKENS_PER_SECOND_OUT = 10, 20


async def speech(request: Request, engine: SimEngine, model: str | None) -> Response:
    body = await _json(request)
    model = model or _required(body, "model")
    text = _required(body, "input")
    if len(text) > MAX_SPEECH_CHARACTERS:
        raise SimError(400, f"input is longer than {MAX_SPEECH_CHARACTERS} characters", "input")
    voice = _required(body, "voice")
    if voice not in OPENAI_VOICES:
        raise SimError(400, f"Invalid value for 'voice': {voice}.", "voice")
    fmt = body.get("response_format", "mp3")
    if fmt not in SPEECH_FORMATS:
        raise SimError(400, f"Invalid value for 'response_format': {fmt}.", "response_format")
    speed = float(body.get("speed", 1.0))
    if not 0.25 <= speed <= 4.0:
        raise SimError(400, "speed must be between 0.25 and 4.", "speed")
    audio = await engine.speak(text, speed)
    output = SPEECH_FORMATS[fmt]
    data = audio.samples if output == "pcm16" else encode(audio, output)
    if body.get("stream_format") == "sse":
        tokens_out = math.ceil(audio.duration_seconds * TOKENS_PER_SECOND_OUT)
        return StreamingResponse(
            _speech_events(data, len(text.split()), tokens_out), media_type="text/event-stream"
        )
    return Response(data, media_type=OUTPUT_FORMATS[output].content_type)


async def _speech_events(data: bytes, tokens_in: int, tokens_out: int) -> AsyncIterator[bytes]:
    # Odd-sized pieces, as real streams cut audio wherever the network does.
    for start in range(0, len(data), SSE_PIECE_BYTES):
        piece = base64.b64encode(data[start : start + SSE_PIECE_BYTES]).decode()
        yield b"data: " + orjson.dumps({"type": "speech.audio.delta", "audio": piece}) + b"\n\n"
    usage = {
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }
    yield b"data: " + orjson.dumps({"type": "speech.audio.done", "usage": usage}) + b"\n\n"


async def transcription(
    request: Request, engine: SimEngine, model: str | None, *, translate: bool
) -> Response:
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise SimError(400, "file is required", "file")
    if model is None and not form.get("model"):
        raise SimError(400, "model is required", "model")
    try:
        audio = decode(await upload.read(), sample_rate=16_000, max_seconds=1500)
    except AudioDecodeError as exc:
        raise SimError(400, f"Audio file might be corrupted or unsupported: {exc}", "file") from exc
    heard = await engine.hear(audio, translate=translate)
    fmt = str(form.get("response_format") or "json")
    if fmt == "text":
        return Response(heard.text, media_type="text/plain")
    body: dict[str, Any] = {"text": heard.text}
    if fmt == "verbose_json":
        seconds = audio.duration_seconds
        body |= {
            "task": "translate" if translate else "transcribe",
            "language": heard.language,
            "duration": seconds,
            "segments": [{"id": 0, "start": 0.0, "end": seconds, "text": heard.text}],
        }
    body["usage"] = {"type": "duration", "seconds": math.ceil(audio.duration_seconds)}
    return json_response(body)


async def chat(request: Request, engine: SimEngine, model: str | None) -> Response:
    body = await _json(request)
    model = model or _required(body, "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SimError(400, "messages must be a non-empty array", "messages")
    system, text, heard_audio = _conversation(messages)
    reply = await _reply(engine, system, text, heard_audio)
    message: dict[str, Any] = {"role": "assistant", "content": reply}
    audio_out: PcmAudio | None = None
    if "audio" in (body.get("modalities") or []):
        audio_options = body.get("audio") or {}
        if audio_options.get("voice") not in OPENAI_VOICES:
            raise SimError(
                400, "audio.voice is required and must be an OpenAI voice", "audio.voice"
            )
        audio_out = await engine.speak(reply)
        data = (
            audio_out.samples
            if audio_options.get("format") == "pcm16"
            else encode(audio_out, "wav")
        )
        message = {
            "role": "assistant",
            "content": None,
            "audio": {
                "id": "audio_sim",
                "data": base64.b64encode(data).decode(),
                "expires_at": int(time.time()) + 3600,
                "transcript": reply,
            },
        }
    usage = _chat_usage(system, text, heard_audio, reply, audio_out)
    return json_response(
        {
            "id": "chatcmpl-sim",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }
    )


async def _reply(engine: SimEngine, system: str, text: str, audio: PcmAudio | None) -> str:
    """Verbatim for read-aloud prompts, the transcript for transcribe prompts, else an answer."""
    lowered = system.lower()
    if audio is not None:
        heard = await engine.hear(audio, translate="translate" in lowered)
        if "transcri" in lowered or "translat" in lowered:
            return heard.text
        text = heard.text
    if "exactly as written" in lowered:
        return text
    return f"The simulator heard: {text}"


def _conversation(messages: list[Any]) -> tuple[str, str, PcmAudio | None]:
    system, texts, audio = "", [], None
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if message.get("role") in ("system", "developer"):
            system += str(content or "")
            continue
        parts: list[dict[str, Any]] = (
            content if isinstance(content, list) else [{"type": "text", "text": content}]
        )
        for part in parts:
            if part.get("type") == "text":
                texts.append(str(part.get("text") or ""))
            elif part.get("type") == "input_audio":
                audio = _input_audio(part.get("input_audio") or {})
    return system, " ".join(texts), audio


def _input_audio(part: dict[str, Any]) -> PcmAudio:
    try:
        return decode(
            base64.b64decode(part.get("data", ""), validate=True),
            sample_rate=24_000,
            max_seconds=1500,
        )
    except (binascii.Error, ValueError, AudioDecodeError) as exc:
        raise SimError(400, "input_audio.data is not audio", "messages") from exc


def _chat_usage(
    system: str, text: str, heard: PcmAudio | None, reply: str, spoken: PcmAudio | None
) -> dict[str, Any]:
    audio_in = math.ceil(heard.duration_seconds * TOKENS_PER_SECOND_IN) if heard else 0
    audio_out = math.ceil(spoken.duration_seconds * TOKENS_PER_SECOND_OUT) if spoken else 0
    text_in = len((system + " " + text).split())
    text_out = len(reply.split())
    return {
        "prompt_tokens": text_in + audio_in,
        "completion_tokens": text_out + audio_out,
        "total_tokens": text_in + audio_in + text_out + audio_out,
        "prompt_tokens_details": {"audio_tokens": audio_in, "cached_tokens": 0},
        "completion_tokens_details": {"audio_tokens": audio_out, "reasoning_tokens": 0},
    }


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise SimError(400, "We could not parse the JSON body of your request.") from exc
    if not isinstance(body, dict):
        raise SimError(400, "The body must be a JSON object.")
    return body


def _required(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise SimError(400, f"Missing required parameter: '{field}'.", field)
    return value
