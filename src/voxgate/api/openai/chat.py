"""POST /v1/chat/completions for audio chat models and cascades: the provider's answer,
streamed or whole.

The answer is the provider's own JSON, and a streamed answer the provider's own chunks, each
sent on as it arrives. The gateway owns only `model` (the catalog id the client asked for), the
usage counts it bills, and a whole answer's audio data when the client asked for a format other
than the pcm16 it takes from the provider; every other field, known or not, is passed on.
"""

import base64
import copy
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from voxgate.api.auth import authenticate
from voxgate.api.bodies import json_body, parse
from voxgate.api.context import services_of
from voxgate.api.openai.chat_body import ChatCompletionBody
from voxgate.api.openai.sse import event, sse_response
from voxgate.api.responses import JSONResponse
from voxgate.audio.encode import encode_off_loop
from voxgate.catalog.schema import ModelRow
from voxgate.errors import (
    GatewayError,
    InvalidRequestError,
    NotFoundError,
)
from voxgate.gateway.cascade import CascadeChatJob, decoded_clips, has_audio
from voxgate.gateway.charge import Charge
from voxgate.gateway.chat_completion import ChatCompletionJob, check_parameters
from voxgate.gateway.jobs import Job
from voxgate.gateway.pipeline import Completed
from voxgate.gateway.streaming import Streamed
from voxgate.providers.protocols import ChatAudioResult, ChatChunk
from voxgate.services import Services
from voxgate.types import Task

# The client's own bookkeeping, kept from the provider when the operator sets
# `strip_client_metadata`.
CLIENT_METADATA = frozenset({"store", "metadata", "user"})
DEPRECATED_MAX_TOKENS = '299 - "max_tokens is deprecated; use max_completion_tokens"'


async def create_chat_completion(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    body = await json_body(request)
    parsed: list[ChatCompletionBody] = []

    async def build(charge: Charge) -> tuple[ModelRow, Task, Job]:
        # Validated here, inside the pipeline, so that a refusal leaves a usage record.
        chat = _parsed(body)
        parsed.append(chat)
        row = _chat_model(services, chat)
        chat.check_against(row)
        return row, "audio_chat", await _job(services, charge, chat, row)

    request_id = request.state.request_id
    model = _named(body)
    if isinstance(body, dict) and body.get("stream") is True:
        streamed = await services.gateway.stream(principal, request_id, build, model=model)
        return sse_response(_relayed(parsed[0], streamed), _headers(parsed[0]))
    completed = await services.gateway.run(principal, request_id, build, model=model)
    answer = await _completion(parsed[0], completed, request_id)
    return JSONResponse(answer, headers=_headers(parsed[0]))


def _parsed(body: object) -> ChatCompletionBody:
    """The body, validated; a field OpenAI's API does not have is refused as unknown, with the
    code the unified endpoint uses."""
    if isinstance(body, dict):
        for name in body:
            if name not in ChatCompletionBody.model_fields:
                raise InvalidRequestError(
                    f"Unrecognized request argument supplied: {name}",
                    param=str(name),
                    code="unknown_parameter",
                )
    return parse(ChatCompletionBody, body)


def _named(body: object) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model[:200] if isinstance(model, str) else ""


def _headers(chat: ChatCompletionBody) -> dict[str, str]:
    return {"warning": DEPRECATED_MAX_TOKENS} if chat.max_tokens is not None else {}


async def _job(services: Services, charge: Charge, chat: ChatCompletionBody, row: ModelRow) -> Job:
    """The conversation on an audio chat model, or on a cascade of three models (whose audio
    the gateway decodes, so bad audio is refused by name before any route is tried)."""
    parameters = chat.standard_parameters()
    if services.settings.strip_client_metadata:
        parameters = {k: v for k, v in parameters.items() if k not in CLIENT_METADATA}
    check_parameters(row, parameters)
    voice = chat.audio.voice if chat.wants_audio and chat.audio else None
    # Audio is decoded before it is held: its duration, not its bytes, bounds what it costs.
    if has_audio(chat.messages):
        await charge.cover_decoding(row)
    clips = await decoded_clips(chat.messages, services.settings.max_audio_seconds)
    if row.cascade is not None:
        return CascadeChatJob(
            row=row,
            messages=tuple(chat.messages),
            clips=clips,
            parameters=parameters,
            voice=voice,
            max_output_tokens=chat.output_tokens,
            legs=services.gateway.legs(row, charge),
            streamed=chat.stream,
        )
    return ChatCompletionJob(
        row=row,
        messages=tuple(chat.messages),
        parameters=parameters,
        voice=voice,
        max_output_tokens=chat.output_tokens,
        voices=services.catalog.voices,
        providers=services.gateway.providers,
        tokens=services.gateway.tokens,
        heard_seconds=sum(clip.audio.duration_seconds for clip in clips),
        streamed=chat.stream,
    )


def _chat_model(services: Services, chat: ChatCompletionBody) -> ModelRow:
    row = services.catalog.get(chat.model)
    if row is None:
        raise NotFoundError(
            f"The model '{chat.model}' does not exist.", param="model", code="model_not_found"
        )
    if row.interface == "audio":
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


async def _completion(
    chat: ChatCompletionBody, completed: Completed, request_id: str
) -> dict[str, Any]:
    """The provider's answer with the fields the gateway owns set, and defaults for the
    identifying fields a compatible server may leave out."""
    result: ChatAudioResult = completed.outcome.result
    answer = copy.deepcopy(result.payload)
    answer.setdefault("id", f"chatcmpl-{request_id}")
    answer.setdefault("created", int(time.time()))
    answer["object"] = "chat.completion"
    answer["model"] = chat.model
    answer["usage"] = _merged(answer.get("usage"), _usage(completed))
    audio = answer["choices"][0]["message"].get("audio")
    if isinstance(audio, dict) and result.audio is not None and chat.audio is not None:
        encoded = await encode_off_loop(result.audio, chat.audio.format)
        audio["data"] = base64.b64encode(encoded).decode()
    return answer


async def _relayed(chat: ChatCompletionBody, streamed: Streamed[ChatChunk]) -> AsyncIterator[bytes]:
    """Each provider chunk as it arrives; a failure after the first ends the stream with an
    error event, as OpenAI's own streams do."""
    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
    try:
        async with aclosing(streamed.chunks()) as chunks:
            async for chunk in chunks:
                relayed = _client_chunk(chat, chunk.event, include_usage)
                if relayed is not None:
                    yield event(relayed)
    except GatewayError as exc:
        yield event(exc.body())
        return
    yield b"data: [DONE]\n\n"


def _client_chunk(
    chat: ChatCompletionBody, chunk: dict[str, Any], include_usage: bool
) -> dict[str, Any] | None:
    """The chunk with the model the client named. The gateway always asks for usage (it bills
    by it); a client that did not gets neither the usage chunk nor the usage field."""
    if include_usage:
        return chunk | {"model": chat.model}
    if not chunk.get("choices") and "usage" in chunk:
        return None
    return {k: v for k, v in chunk.items() if k != "usage"} | {"model": chat.model}


def _merged(upstream: Any, owned: dict[str, Any]) -> dict[str, Any]:
    """The gateway's counts over the provider's usage; fields only the provider sent stay."""
    merged = dict(upstream) if isinstance(upstream, dict) else {}
    for name, value in owned.items():
        inner = merged.get(name)
        merged[name] = (
            inner | value if isinstance(value, dict) and isinstance(inner, dict) else value
        )
    return merged


def _usage(completed: Completed) -> dict[str, Any]:
    metered = completed.outcome.metered
    prompt = metered.input_text_tokens + metered.input_audio_tokens
    completion = metered.output_text_tokens + metered.output_audio_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"audio_tokens": metered.input_audio_tokens},
        "completion_tokens_details": {"audio_tokens": metered.output_audio_tokens},
    }
