"""POST chat/completions with audio: input_audio parts in, message.audio out, whole or streamed.

Audio is always asked for as pcm16, the one format OpenAI also streams, so that the gateway can
measure, time-stretch and convert what comes back. Everything else in the answer is kept as the
provider sent it (`payload`, or each chunk's `event`) for endpoints that pass it through.
"""

import base64
import binascii
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio
from voxgate.providers.errors import NotStreamed, UpstreamError
from voxgate.providers.http import json_answer
from voxgate.providers.protocols import (
    ChatAudioRequest,
    ChatAudioResult,
    ChatChunk,
    ProviderUsage,
    Upstream,
)

if TYPE_CHECKING:
    from voxgate.providers.openai_style import OpenAIStyleProvider

PCM_RATE = 24_000
AUDIO_FORMAT = "pcm16"


def body(request: ChatAudioRequest, model: str | None) -> dict[str, Any]:
    """The upstream body; the client's own parameters (`request.params`) are sent as given."""
    payload: dict[str, Any] = {
        "messages": list(request.messages) if request.messages else _turn(request),
        "modalities": ["text"],
    }
    if request.voice:
        payload["modalities"] = ["text", "audio"]
        payload["audio"] = {"voice": request.voice, "format": AUDIO_FORMAT}
    if request.max_output_tokens:
        payload["max_completion_tokens"] = request.max_output_tokens
    return payload | request.params | ({"model": model} if model else {})


def stream_body(request: ChatAudioRequest, model: str | None) -> dict[str, Any]:
    """The streamed upstream body: usage arrives in a last chunk whose `choices` is empty."""
    return body(request, model) | {"stream": True, "stream_options": {"include_usage": True}}


def result(provider: str, payload: Any) -> ChatAudioResult:
    try:
        message = payload["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise UpstreamError(provider, "the chat answer has no message") from exc
    if not isinstance(message, dict):
        raise UpstreamError(provider, "the chat answer's message is not an object")
    audio = message.get("audio")
    audio = audio if isinstance(audio, dict) else {}
    text = audio.get("transcript") or message.get("content") or ""
    return ChatAudioResult(
        text=text,
        audio=_audio(provider, audio.get("data")),
        usage=_usage(provider, payload.get("usage")),
        payload=payload,
    )


async def stream(
    provider: "OpenAIStyleProvider", request: ChatAudioRequest, upstream: Upstream
) -> AsyncIterator[ChatChunk]:
    """The chat answer streamed: each chunk as the provider sends it."""
    endpoints = provider.endpoints
    events = provider.http.post_events(
        provider.name,
        endpoints.url(upstream, "chat/completions"),
        headers=endpoints.headers(upstream),
        json=stream_body(request, endpoints.body_model(upstream)),
    )
    try:
        async for chunk in chunks(provider.name, events):
            yield chunk
    except NotStreamed as whole:  # a server that ignores `stream`
        for chunk in whole_chunks(provider.name, json_answer(provider.name, whole.body)):
            yield chunk


def whole_chunks(provider: str, payload: Any) -> tuple[ChatChunk, ChatChunk]:
    """A whole chat.completion as the chunks a streamed one would have been: every choice's
    message as one delta, then a last chunk with the usage and no choices. Every other field
    is kept as the provider sent it."""
    answer = result(provider, payload)
    head = {key: value for key, value in payload.items() if key not in ("choices", "usage")}
    choices = [
        {key: value for key, value in choice.items() if key != "message"}
        | {"index": choice.get("index", index), "delta": _as_delta(choice.get("message") or {})}
        for index, choice in enumerate(payload["choices"])
        if isinstance(choice, dict)
    ]
    head["object"] = "chat.completion.chunk"
    return (
        ChatChunk(head | {"choices": choices, "usage": None}, answer.audio, None),
        ChatChunk(head | {"choices": [], "usage": payload.get("usage")}, None, answer.usage),
    )


def _as_delta(message: dict[str, Any]) -> dict[str, Any]:
    """A whole message as a delta: streamed tool calls carry their place in the list."""
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return message
    return message | {
        "tool_calls": [
            {"index": index, **call} if isinstance(call, dict) else call
            for index, call in enumerate(calls)
        ]
    }


async def chunks(provider: str, events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[ChatChunk]:
    """Each streamed event as a ChatChunk, as soon as it arrives.

    A PCM delta may end mid-sample; the odd byte waits for the next delta. A stream that stops
    before any choice has finished was cut short, however cleanly its connection closed.
    """
    pending = b""
    finished = False
    async for event in events:
        if not isinstance(event, dict) or "error" in event:
            raise UpstreamError(provider, f"the stream failed: {str(event)[:200]}")
        pending += _audio_delta(provider, event)
        whole = len(pending) // 2 * 2
        audio = PcmAudio(pending[:whole], PCM_RATE) if whole else None
        pending = pending[whole:]
        usage = event.get("usage")
        chunk = ChatChunk(event, audio, _usage(provider, usage) if usage else None)
        finished = finished or chunk.finishes
        yield chunk
    if not finished:
        raise UpstreamError(provider, "the stream ended before the answer did", status=502)


def _audio_delta(provider: str, event: dict[str, Any]) -> bytes:
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return b""
    delta = choices[0].get("delta")
    audio = delta.get("audio") if isinstance(delta, dict) else None
    data = audio.get("data") if isinstance(audio, dict) else None
    return _decoded(provider, data) if data else b""


def _turn(request: ChatAudioRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.append({"role": "user", "content": _user_content(request)})
    return messages


def _user_content(request: ChatAudioRequest) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if request.text:
        parts.append({"type": "text", "text": request.text})
    if request.audio is not None:
        data = base64.b64encode(encode(request.audio, "wav")).decode()
        parts.append({"type": "input_audio", "input_audio": {"data": data, "format": "wav"}})
    return parts


def _audio(provider: str, data: object) -> PcmAudio | None:
    if not data:
        return None
    samples = _decoded(provider, data)
    return PcmAudio(samples[: len(samples) // 2 * 2], PCM_RATE)


def _decoded(provider: str, data: object) -> bytes:
    if not isinstance(data, str):
        raise UpstreamError(provider, "the chat answer's audio is not a string")
    try:
        # Strict mode refuses exactly what validate=True does, without its regex pass over
        # the whole string first (a sixth of the decoding's time).
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise UpstreamError(provider, "the chat answer's audio is not base64") from exc


def _usage(provider: str, usage: object) -> ProviderUsage:
    if not isinstance(usage, dict) or not usage:
        return ProviderUsage()
    prompt_audio = _count(provider, usage.get("prompt_tokens_details"), "audio_tokens")
    completion_audio = _count(provider, usage.get("completion_tokens_details"), "audio_tokens")
    # Totals include the audio tokens; a provider whose details exceed its totals gets none.
    return ProviderUsage(
        input_text_tokens=max(0, _count(provider, usage, "prompt_tokens") - prompt_audio),
        output_text_tokens=max(0, _count(provider, usage, "completion_tokens") - completion_audio),
        input_audio_tokens=prompt_audio,
        output_audio_tokens=completion_audio,
    )


def _count(provider: str, counts: object, name: str) -> int:
    """A token count of the provider's usage: absent is 0, anything but a whole number is a
    malformed answer."""
    value = counts.get(name) if isinstance(counts, dict) else None
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UpstreamError(provider, f"the usage's {name} is not a token count: {value!r}")
    return value
