"""Chat completions with audio as the simulator serves them, whole or streamed (`stream: true`:
`chat.completion.chunk` events with content, or audio transcript and pcm16 data deltas)."""

import base64
import binascii
import math
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from voxgate.audio.decode import AudioDecodeError, decode
from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio
from voxgate.simulator.engine import SimEngine
from voxgate.simulator.pacing import pace_of, paced
from voxgate.simulator.tool_calls import logprobs, streamed_tool_call, tool_call
from voxgate.simulator.voices import OPENAI_VOICES
from voxgate.simulator.wire import (
    SimError,
    ignores_caps,
    ignores_streaming,
    json_body,
    json_response,
    required,
)

TOKENS_PER_SECOND_IN, TOKENS_PER_SECOND_OUT = 10, 20
AUDIO_ID = "audio_sim"
COMPLETION_ID = "chatcmpl-sim"
STREAM_AUDIO_BYTES = 9_600  # 200 ms of 24 kHz PCM16 per audio delta


async def chat(request: Request, engine: SimEngine, model: str | None) -> Response:
    body = await json_body(request)
    model = model or required(body, "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SimError(400, "messages must be a non-empty array", "messages")
    audio_options = _audio_options(body)
    system, text, heard_audio = _conversation(messages)
    call = tool_call(body)
    reply = "" if call else await _reply(engine, system, text, heard_audio)
    spoken = await engine.speak(reply) if audio_options is not None and not call else None
    cap = None if ignores_caps(request) else _cap(body)
    reply, spoken, cut = _within(cap, reply, spoken)
    usage = _chat_usage(system, text, heard_audio, reply, spoken)
    top = int(body.get("top_logprobs") or 0)
    scored = body.get("logprobs") is True and spoken is None and call is None
    if body.get("stream") is True and not ignores_streaming(request):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        choices = _streamed_choices(reply, spoken, call, top if scored else None, cut)
        chunks = _chunks(model, choices, usage if include_usage else None)
        events = [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks]
        return StreamingResponse(
            paced([*events, b"data: [DONE]\n\n"], pace_of(request)),
            media_type="text/event-stream",
        )
    choice: dict[str, Any] = {
        "index": 0,
        "message": _message(reply, spoken, (audio_options or {}).get("format"), call),
        "finish_reason": _finish(call, cut),
        "logprobs": logprobs(_words(reply), top) if scored else None,
    }
    return json_response(
        _completion(model, "chat.completion") | {"choices": [choice], "usage": usage}
    )


def _cap(body: dict[str, Any]) -> int | None:
    """The most completion tokens the request lets the answer take."""
    cap = body.get("max_completion_tokens") or body.get("max_tokens")
    return cap if isinstance(cap, int) and not isinstance(cap, bool) else None


def _within(
    cap: int | None, reply: str, spoken: PcmAudio | None
) -> tuple[str, PcmAudio | None, bool]:
    """The answer cut at `cap` completion tokens (its words, then its audio), as OpenAI cuts
    it; and whether it was cut."""
    words = reply.split()
    if cap is None or len(words) + _audio_tokens(spoken) <= cap:
        return reply, spoken, False
    kept = " ".join(words[:cap])
    if spoken is None:
        return kept, None, True
    seconds = max(cap - len(kept.split()), 0) / TOKENS_PER_SECOND_OUT
    samples = int(seconds * spoken.sample_rate) * 2
    return kept, PcmAudio(spoken.samples[:samples], spoken.sample_rate), True


def _audio_tokens(spoken: PcmAudio | None) -> int:
    return math.ceil(spoken.duration_seconds * TOKENS_PER_SECOND_OUT) if spoken else 0


def _finish(call: dict[str, Any] | None, cut: bool) -> str:
    return "tool_calls" if call else "length" if cut else "stop"


def _audio_options(body: dict[str, Any]) -> dict[str, Any] | None:
    if "audio" not in (body.get("modalities") or []):
        return None
    options = body.get("audio") or {}
    if options.get("voice") not in OPENAI_VOICES:
        raise SimError(400, "audio.voice is required and must be an OpenAI voice", "audio.voice")
    if body.get("stream") is True and options.get("format") != "pcm16":
        raise SimError(400, "Streaming audio requires audio.format pcm16.", "audio.format")
    return dict(options)


def _message(
    reply: str, spoken: PcmAudio | None, fmt: str | None, call: dict[str, Any] | None
) -> dict[str, Any]:
    if call is not None:
        return {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
    if spoken is None:
        return {"role": "assistant", "content": reply, "refusal": None}
    data = spoken.samples if fmt == "pcm16" else encode(spoken, "wav")
    return {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "audio": {
            "id": AUDIO_ID,
            "data": base64.b64encode(data).decode(),
            "expires_at": int(time.time()) + 3600,
            "transcript": reply,
        },
    }


def _words(reply: str) -> list[str]:
    """The reply cut as a tokenizer would: each word with the space before it."""
    first, *rest = reply.split(" ")
    return [token for token in (first, *(f" {word}" for word in rest)) if token]


def _streamed_choices(
    reply: str,
    spoken: PcmAudio | None,
    call: dict[str, Any] | None,
    top: int | None,
    cut: bool,
) -> list[dict[str, Any]]:
    """Each streamed choice: the role, the deltas (with a word's logprobs when scored), the
    finish."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None, "refusal": None}]
    if call is not None:
        deltas += streamed_tool_call(call)
    elif spoken is None:
        deltas += [{"content": word} for word in _words(reply)]
    else:
        deltas.append({"audio": {"id": AUDIO_ID, "transcript": ""}})
        deltas += [{"audio": {"transcript": word}} for word in _words(reply)]
        samples = spoken.samples
        deltas += [
            {"audio": {"data": base64.b64encode(samples[i : i + STREAM_AUDIO_BYTES]).decode()}}
            for i in range(0, len(samples), STREAM_AUDIO_BYTES)
        ]
        deltas.append({"audio": {"expires_at": int(time.time()) + 3600}})
    choices: list[dict[str, Any]] = []
    for delta in deltas:
        choices.append({"index": 0, "delta": delta, "finish_reason": None})
        if top is not None and delta.get("content"):
            choices[-1]["logprobs"] = logprobs([delta["content"]], top)
    return [*choices, {"index": 0, "delta": {}, "finish_reason": _finish(call, cut)}]


def _chunks(
    model: str, choices: list[dict[str, Any]], usage: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The answer as OpenAI streams it: a chunk per choice, then the usage."""
    # With include_usage every chunk carries `usage: null` and one last chunk has it, no choices.
    extra: dict[str, Any] = {"usage": None} if usage is not None else {}
    chunks = [
        _completion(model, "chat.completion.chunk") | {"choices": [choice]} | extra
        for choice in choices
    ]
    if usage is not None:
        chunks.append(_completion(model, "chat.completion.chunk") | {"choices": [], "usage": usage})
    return chunks


def _completion(model: str, kind: str) -> dict[str, Any]:
    return {
        "id": COMPLETION_ID,
        "object": kind,
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_sim",
    }


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
    audio_out = _audio_tokens(spoken)
    text_in = len((system + " " + text).split())
    text_out = len(reply.split())
    return {
        "prompt_tokens": text_in + audio_in,
        "completion_tokens": text_out + audio_out,
        "total_tokens": text_in + audio_in + text_out + audio_out,
        "prompt_tokens_details": {"audio_tokens": audio_in, "cached_tokens": 0},
        "completion_tokens_details": {"audio_tokens": audio_out, "reasoning_tokens": 0},
    }
