"""POST /v1/chat/completions for audio chat models: message.audio out, streamed or whole."""

import base64
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from voxgate.api.auth import authenticate
from voxgate.api.bodies import json_body, parse
from voxgate.api.openai.chat_body import ChatCompletionBody
from voxgate.api.openai.sse import event, sse_response
from voxgate.api.responses import JSONResponse
from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio
from voxgate.catalog.schema import ModelRow
from voxgate.errors import InvalidRequestError, NotFoundError
from voxgate.gateway.chat_completion import ChatCompletionJob
from voxgate.gateway.jobs import Job
from voxgate.gateway.pipeline import Completed
from voxgate.providers.protocols import ChatAudioResult
from voxgate.services import Services, services_of
from voxgate.types import Task

AUDIO_LIFETIME_SECONDS = 3600
STREAM_CHUNK_SECONDS = 0.5
DEPRECATED_MAX_TOKENS = '299 - "max_tokens is deprecated; use max_completion_tokens"'


async def create_chat_completion(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    chat = parse(ChatCompletionBody, await json_body(request))
    row = _chat_model(services, chat)

    async def build() -> tuple[ModelRow, Task, Job]:
        job = ChatCompletionJob(
            row=row,
            messages=tuple(chat.messages),
            parameters=chat.standard_parameters(),
            voice=chat.audio.voice if chat.wants_audio and chat.audio else None,
            max_output_tokens=chat.max_completion_tokens or chat.max_tokens,
            voices=services.catalog.voices,
            providers=services.gateway.providers,
            tokens=services.gateway.tokens,
        )
        return row, "audio_chat", job

    request_id = request.state.request_id
    completed = await services.gateway.run(principal, request_id, build, model=row.id)
    headers = {"warning": DEPRECATED_MAX_TOKENS} if chat.max_tokens is not None else {}
    if chat.stream:
        return sse_response(_chunks(chat, completed, request_id), headers)
    return JSONResponse(_completion(chat, completed, request_id), headers=headers)


def _chat_model(services: Services, chat: ChatCompletionBody) -> ModelRow:
    row = services.catalog.get(chat.model)
    if row is None:
        raise NotFoundError(
            f"The model '{chat.model}' does not exist.", param="model", code="model_not_found"
        )
    if row.interface != "chat":
        raise InvalidRequestError(
            f"Model '{row.id}' is not a chat model; use it on /v1/audio/* or /api/v1/audio.",
            param="model",
            code="model_not_supported",
        )
    if chat.audio is not None and chat.audio.voice not in row.voices:
        raise InvalidRequestError(
            f"Invalid value for 'audio.voice': {chat.audio.voice!r}. "
            f"Accepted values: {', '.join(row.voices)}.",
            param="audio.voice",
            code="invalid_value",
        )
    return row


def _completion(chat: ChatCompletionBody, completed: Completed, request_id: str) -> dict[str, Any]:
    result: ChatAudioResult = completed.outcome.result
    message: dict[str, Any] = {"role": "assistant", "content": result.text, "refusal": None}
    if chat.wants_audio and chat.audio is not None and result.audio is not None:
        fmt = chat.audio.format
        data = result.audio.samples if fmt == "pcm16" else encode(result.audio, fmt)
        message["content"] = None
        message["audio"] = {
            "id": f"audio_{request_id}",
            "data": base64.b64encode(data).decode(),
            "expires_at": int(time.time()) + AUDIO_LIFETIME_SECONDS,
            "transcript": result.text,
        }
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chat.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(completed),
    }


async def _chunks(
    chat: ChatCompletionBody, completed: Completed, request_id: str
) -> AsyncIterator[bytes]:
    """The finished answer sent as chunks: the provider call is not streamed upstream yet."""
    result: ChatAudioResult = completed.outcome.result
    base = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": chat.model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return event(base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    yield chunk({"role": "assistant", "content": None if chat.wants_audio else ""})
    if chat.wants_audio and result.audio is not None:
        audio_id = f"audio_{request_id}"
        for piece in _pieces(result.audio):
            yield chunk({"audio": {"id": audio_id, "data": base64.b64encode(piece).decode()}})
        yield chunk(
            {
                "audio": {
                    "id": audio_id,
                    "transcript": result.text,
                    "expires_at": int(time.time()) + AUDIO_LIFETIME_SECONDS,
                }
            }
        )
    else:
        yield chunk({"content": result.text})
    yield chunk({}, "stop")
    if chat.stream_options and chat.stream_options.include_usage:
        yield event(base | {"choices": [], "usage": _usage(completed)})
    yield b"data: [DONE]\n\n"


def _pieces(audio: PcmAudio) -> list[bytes]:
    size = int(audio.sample_rate * STREAM_CHUNK_SECONDS) * 2
    return [audio.samples[i : i + size] for i in range(0, len(audio.samples), size)]


def _usage(completed: Completed) -> dict[str, Any]:
    metered = completed.outcome.metered
    prompt = metered.text_input_tokens + metered.audio_input_tokens
    completion = metered.text_output_tokens + metered.audio_output_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"audio_tokens": metered.audio_input_tokens, "cached_tokens": 0},
        "completion_tokens_details": {
            "audio_tokens": metered.audio_output_tokens,
            "reasoning_tokens": 0,
        },
    }
