"""The OpenAI audio endpoints as the simulator serves them (Azure OpenAI uses the same bodies);
chat completions are in `voxgate.simulator.chat`."""

import base64
import math
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from voxgate.audio.decode import AudioDecodeError, decode
from voxgate.audio.encode import encode
from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.simulator.engine import SimEngine
from voxgate.simulator.pacing import pace_of, paced
from voxgate.simulator.voices import OPENAI_VOICES
from voxgate.simulator.wire import (
    SimError,
    ignores_caps,
    ignores_streaming,
    json_body,
    json_response,
    required,
)
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
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # OpenAI's limit on a transcription request
SSE_PIECE_BYTES = 12_001
TOKENS_PER_SECOND_IN, TOKENS_PER_SECOND_OUT = 10, 20


async def speech(request: Request, engine: SimEngine, model: str | None) -> Response:
    body = await json_body(request)
    model = model or required(body, "model")
    text = required(body, "input")
    if len(text) > MAX_SPEECH_CHARACTERS:
        raise SimError(400, f"input is longer than {MAX_SPEECH_CHARACTERS} characters", "input")
    voice = required(body, "voice")
    if voice not in OPENAI_VOICES:
        raise SimError(400, f"Invalid value for 'voice': {voice}.", "voice")
    fmt = body.get("response_format", "mp3")
    if fmt not in SPEECH_FORMATS:
        raise SimError(400, f"Invalid value for 'response_format': {fmt}.", "response_format")
    speed = float(body.get("speed", 1.0))
    if not 0.25 <= speed <= 4.0:
        raise SimError(400, "speed must be between 0.25 and 4.", "speed")
    # A dishonest provider (`uncapped`) says more than it was given.
    audio = await engine.speak(f"{text} {text}" if ignores_caps(request) else text, speed)
    output = SPEECH_FORMATS[fmt]
    data = audio.samples if output == "pcm16" else encode(audio, output)
    pace = pace_of(request)
    content_type = OUTPUT_FORMATS[output].content_type
    if ignores_streaming(request):
        return Response(data, media_type=content_type)
    if body.get("stream_format") == "sse":
        tokens_out = math.ceil(audio.duration_seconds * TOKENS_PER_SECOND_OUT)
        events = _speech_events(data, len(text.split()), tokens_out)
        return StreamingResponse(paced(events, pace), media_type="text/event-stream")
    # Chunked transfer, as OpenAI streams speech whatever the stream_format.
    return StreamingResponse(paced(_pieces(data), pace), media_type=content_type)


def _pieces(data: bytes) -> list[bytes]:
    # Odd-sized pieces, as real streams cut audio wherever the network does.
    return [data[start : start + SSE_PIECE_BYTES] for start in range(0, len(data), SSE_PIECE_BYTES)]


def _speech_events(data: bytes, tokens_in: int, tokens_out: int) -> list[bytes]:
    deltas = [
        _event({"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode()})
        for piece in _pieces(data)
    ]
    usage = {
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }
    return [*deltas, _event({"type": "speech.audio.done", "usage": usage})]


def _event(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def transcription(
    request: Request, engine: SimEngine, model: str | None, *, translate: bool
) -> Response:
    size = len(await request.body())
    if size > MAX_UPLOAD_BYTES:
        raise SimError(
            413, f"Maximum content size limit ({MAX_UPLOAD_BYTES}) exceeded ({size} bytes read)"
        )
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
    streamed = form.get("stream") == "true" and not ignores_streaming(request)
    if streamed and not translate and _streams(model or str(form["model"])):
        return _streamed_transcript(request, heard.text, audio.duration_seconds)
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
            "segments": [_segment(heard.text, seconds)],
        }
        if "word" in form.getlist("timestamp_granularities[]"):
            body["words"] = _words(heard.text, seconds)
    body["usage"] = {"type": "duration", "seconds": math.ceil(audio.duration_seconds)}
    return json_response(body)


def _streams(model: str) -> bool:
    """OpenAI streams the gpt-4o transcribe family's transcripts; whisper-1 ignores `stream`
    and answers whole (as does an Azure deployment of Whisper)."""
    return not model.startswith("whisper")


def _streamed_transcript(request: Request, text: str, seconds: float) -> Response:
    """`transcript.text.delta` events a word at a time, then `transcript.text.done` with the
    token usage, as the gpt-4o transcribe models stream."""
    first, *rest = text.split(" ")
    words = [first, *(f" {word}" for word in rest)]
    audio_tokens = math.ceil(seconds * TOKENS_PER_SECOND_IN)
    usage = {
        "type": "tokens",
        "input_tokens": audio_tokens,
        "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0},
        "output_tokens": len(words),
        "total_tokens": audio_tokens + len(words),
    }
    events = [_event({"type": "transcript.text.delta", "delta": word}) for word in words]
    done = _event({"type": "transcript.text.done", "text": text, "usage": usage})
    return StreamingResponse(
        paced([*events, done], pace_of(request)), media_type="text/event-stream"
    )


def _segment(text: str, seconds: float) -> dict[str, Any]:
    return {
        "id": 0,
        "seek": 0,
        "start": 0.0,
        "end": seconds,
        "text": text,
        "tokens": list(range(50_364, 50_364 + len(text.split()))),
        "temperature": 0.0,
        "avg_logprob": -0.25,
        "compression_ratio": 1.2,
        "no_speech_prob": 0.01,
    }


def _words(text: str, seconds: float) -> list[dict[str, Any]]:
    """The transcript's words spread evenly over the audio."""
    words = text.split()
    step = seconds / max(len(words), 1)
    return [
        {"word": word, "start": round(i * step, 3), "end": round((i + 1) * step, 3)}
        for i, word in enumerate(words)
    ]
