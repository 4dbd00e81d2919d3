"""Gemini generateContent and streamGenerateContent as the simulator serves them: TTS with
prebuilt voices (one speaker or several), and transcription of inline audio.

Bodies are read as the real API reads them: camelCase or snake_case keys at any depth (the
`google-genai` SDK sends `speech_config.voice_config.prebuilt_voice_config.voice_name`).
"""

import base64
import binascii
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from voxgate.audio.decode import AudioDecodeError, decode
from voxgate.audio.pcm import PcmAudio
from voxgate.simulator.engine import RATE, SimEngine
from voxgate.simulator.pacing import pace_of, paced
from voxgate.simulator.voices import GEMINI_VOICES
from voxgate.simulator.wire import SimError, ignores_caps, json_response

STREAM_PIECE_BYTES = 9_600  # 200 ms of 24 kHz PCM16 per streamed chunk
SPEECH_TOKENS_PER_SECOND = 25
_SNAKE = re.compile(r"_([a-z])")


async def generate_content(request: Request, engine: SimEngine) -> Response:
    answer = await _answer(request, engine)
    return json_response(_candidate(answer, finished=True, usage=True))


async def stream_generate_content(request: Request, engine: SimEngine) -> Response:
    """Server-sent events with `alt=sse` (what the SDKs ask for), else one JSON array."""
    answer = await _answer(request, engine)
    pieces = answer.pieces()
    chunks = [
        _candidate(piece, finished=last, usage=last)
        for piece, last in zip(pieces, [False] * (len(pieces) - 1) + [True], strict=True)
    ]
    if request.query_params.get("alt") != "sse":
        return json_response(chunks)
    events = (b"data: " + orjson.dumps(chunk) + b"\r\n\r\n" for chunk in chunks)
    return StreamingResponse(paced(events, pace_of(request)), media_type="text/event-stream")


class _Answer:
    """One model turn: its parts (text or audio) and the token counts it reports."""

    def __init__(
        self, part: dict[str, Any], *, prompt: int, out: int, finish: str = "STOP"
    ) -> None:
        self.part = part
        self.prompt = prompt
        self.out = out
        self.finish = finish

    def pieces(self) -> list["_Answer"]:
        """The turn cut as streamGenerateContent sends it: audio in 200 ms chunks, the usage on
        the last one."""
        inline = self.part.get("inlineData")
        if inline is None:
            return [self]
        samples = base64.b64decode(inline["data"])
        cut = [
            samples[start : start + STREAM_PIECE_BYTES]
            for start in range(0, len(samples), STREAM_PIECE_BYTES)
        ] or [b""]
        return [_Answer(_audio_part(piece), prompt=0, out=0) for piece in cut[:-1]] + [
            _Answer(_audio_part(cut[-1]), prompt=self.prompt, out=self.out, finish=self.finish)
        ]


async def _answer(request: Request, engine: SimEngine) -> _Answer:
    try:
        body = camel(await request.json())
        parts = [part for content in body["contents"] for part in content["parts"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise SimError(400, "contents[].parts is required") from exc
    if not parts:
        raise SimError(400, "contents[].parts is required")
    config = body.get("generationConfig") or {}
    if "AUDIO" in [str(m).upper() for m in config.get("responseModalities") or []]:
        cap = None if ignores_caps(request) else config.get("maxOutputTokens")
        return await _speech(engine, parts, config.get("speechConfig") or {}, cap)
    return await _transcription(engine, parts, config)


async def _speech(
    engine: SimEngine, parts: list[Any], speech_config: dict[str, Any], cap: object
) -> _Answer:
    """The text spoken, cut at `maxOutputTokens` (`MAX_TOKENS`) when it sets one."""
    for voice in _voices(speech_config):
        if voice not in GEMINI_VOICES:
            raise SimError(400, f"Voice name {voice} is not supported.")
    text = " ".join(str(part.get("text", "")) for part in parts)
    samples = (await engine.speak(text)).samples
    out = round(PcmAudio(samples, RATE).duration_seconds * SPEECH_TOKENS_PER_SECOND)
    finish = "STOP"
    if isinstance(cap, int) and not isinstance(cap, bool) and out > cap:
        samples = samples[: cap * RATE // SPEECH_TOKENS_PER_SECOND * 2]
        out, finish = cap, "MAX_TOKENS"
    return _Answer(_audio_part(samples), prompt=len(text.split()), out=out, finish=finish)


def _voices(speech_config: dict[str, Any]) -> list[str | None]:
    """The prebuilt voice of the single speaker, or of each speaker of a dialogue (two)."""
    several = speech_config.get("multiSpeakerVoiceConfig")
    if several is None:
        return [_prebuilt(speech_config.get("voiceConfig"))]
    speakers = several.get("speakerVoiceConfigs") or []
    if len(speakers) != 2:
        raise SimError(400, "Multi-speaker voice config must have exactly 2 speakers.")
    return [_prebuilt(speaker.get("voiceConfig")) for speaker in speakers]


def _prebuilt(voice_config: dict[str, Any] | None) -> str | None:
    name = ((voice_config or {}).get("prebuiltVoiceConfig") or {}).get("voiceName")
    return str(name) if name is not None else None


async def _transcription(engine: SimEngine, parts: list[Any], config: dict[str, Any]) -> _Answer:
    prompt = " ".join(str(part.get("text", "")) for part in parts if "text" in part)
    inline = next((part["inlineData"] for part in parts if "inlineData" in part), None)
    if inline is None:
        raise SimError(400, "an inlineData audio part is required")
    try:
        audio = decode(
            _bytes(str(inline.get("data", ""))),
            sample_rate=16_000,
            max_seconds=1500,
        )
    except (binascii.Error, ValueError, AudioDecodeError) as exc:
        raise SimError(400, "inlineData is not audio") from exc
    heard = await engine.hear(audio, translate="translate" in prompt.lower())
    # Structured output when asked for JSON (as the gateway asks); plain text otherwise.
    wants_json = config.get("responseMimeType") == "application/json"
    text = (
        orjson.dumps({"text": heard.text, "language": heard.language}).decode()
        if wants_json
        else heard.text
    )
    return _Answer(
        {"text": text}, prompt=round(audio.duration_seconds * 32), out=len(heard.text.split())
    )


def _bytes(data: str) -> bytes:
    """Base64 in either alphabet: the REST docs use the standard one, the SDKs the URL-safe."""
    return base64.b64decode(data.replace("-", "+").replace("_", "/"), validate=True)


def _audio_part(samples: bytes) -> dict[str, Any]:
    audio = PcmAudio(samples, RATE)
    return {
        "inlineData": {
            "mimeType": f"audio/L16;codec=pcm;rate={audio.sample_rate}",
            "data": base64.b64encode(audio.samples).decode(),
        }
    }


def _candidate(answer: _Answer, *, finished: bool, usage: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [answer.part]}, "index": 0}
    if finished:
        candidate["finishReason"] = answer.finish
    chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": "simulated"}
    if usage:
        chunk["usageMetadata"] = {
            "promptTokenCount": answer.prompt,
            "candidatesTokenCount": answer.out,
            "totalTokenCount": answer.prompt + answer.out,
        }
    return chunk


def camel(value: Any) -> Any:
    """Every object key in camelCase, as the API treats `voice_name` and `voiceName` alike."""
    if isinstance(value, dict):
        return {_SNAKE.sub(lambda m: m.group(1).upper(), k): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(item) for item in value]
    return value
