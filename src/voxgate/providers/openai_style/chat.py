"""POST chat/completions with audio: input_audio parts in, message.audio out."""

import base64
import binascii
from typing import Any

from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio
from voxgate.providers.errors import UpstreamError
from voxgate.providers.protocols import ChatAudioRequest, ChatAudioResult, ProviderUsage

PCM_RATE = 24_000


def body(request: ChatAudioRequest, model: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        **request.params,
        "messages": list(request.messages) if request.messages else _turn(request),
        "modalities": ["text"],
    }
    if request.voice:
        payload["modalities"] = ["text", "audio"]
        payload["audio"] = {"voice": request.voice, "format": "pcm16"}
    if request.max_output_tokens:
        payload["max_completion_tokens"] = request.max_output_tokens
    return payload | ({"model": model} if model else {})


def result(provider: str, payload: Any) -> ChatAudioResult:
    try:
        message = payload["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise UpstreamError(provider, "the chat answer has no message") from exc
    audio = message.get("audio")
    text = (audio or {}).get("transcript") or message.get("content") or ""
    return ChatAudioResult(text=text, audio=_audio(provider, audio), usage=_usage(payload))


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


def _audio(provider: str, audio: dict[str, Any] | None) -> PcmAudio | None:
    if not audio or not audio.get("data"):
        return None
    try:
        samples = base64.b64decode(audio["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UpstreamError(provider, "the chat answer's audio is not base64") from exc
    return PcmAudio(samples[: len(samples) // 2 * 2], PCM_RATE)


def _usage(payload: dict[str, Any]) -> ProviderUsage:
    usage = payload.get("usage") or {}
    prompt_audio = (usage.get("prompt_tokens_details") or {}).get("audio_tokens") or 0
    completion_audio = (usage.get("completion_tokens_details") or {}).get("audio_tokens") or 0
    if not usage:
        return ProviderUsage()
    return ProviderUsage(
        input_text_tokens=int(usage.get("prompt_tokens", 0)) - prompt_audio,
        output_text_tokens=int(usage.get("completion_tokens", 0)) - completion_audio,
        input_audio_tokens=prompt_audio,
        output_audio_tokens=completion_audio,
    )
