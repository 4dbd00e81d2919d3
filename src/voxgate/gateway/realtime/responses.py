"""One response of a served session, its events in the order OpenAI documents: created, the
output item and its content part, deltas, the part's and item's done, then `response.done`."""

import asyncio
import base64
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from voxgate.errors import GatewayError, InvalidRequestError
from voxgate.gateway.realtime.session_config import SessionConfig
from voxgate.gateway.realtime.wire import ClientChannel, failure_event
from voxgate.gateway.realtime.work import SessionWork
from voxgate.providers.errors import UpstreamError


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass
class Reply:
    """What the response has produced so far: enough to close it properly if cancelled."""

    id: str = field(default_factory=lambda: new_id("resp"))
    item_id: str = field(default_factory=lambda: new_id("item"))
    text: str = ""
    audio: bool = True
    metadata: dict[str, str] | None = None
    modalities: list[str] = field(default_factory=lambda: ["audio"])
    max_output_tokens: int | str | None = None
    # Set once its response.done is sent: a response is closed exactly once.
    closed: bool = False
    status: str = "in_progress"
    # Set once its item joined the conversation; then the PCM16 spoken for it so far.
    added: bool = False
    audio_bytes: int = 0

    def item(self, status: str) -> dict[str, Any]:
        part = (
            {"type": "output_audio", "transcript": self.text}
            if self.audio
            else {"type": "output_text", "text": self.text}
        )
        return {
            "id": self.item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": [part] if status != "in_progress" else [],
        }

    def part(self) -> dict[str, Any]:
        return (
            {"type": "audio", "transcript": self.text}
            if self.audio
            else {"type": "text", "text": self.text}
        )

    def at(self) -> dict[str, Any]:
        return {
            "response_id": self.id,
            "item_id": self.item_id,
            "output_index": 0,
            "content_index": 0,
        }


@dataclass(frozen=True)
class ResponseOptions:
    """What a `response.create` may set for its one response."""

    instructions: str | None = None
    modalities: tuple[str, ...] | None = None
    metadata: dict[str, str] | None = None
    max_output_tokens: int | str | None = None

    @classmethod
    def parse(cls, value: object) -> "ResponseOptions":
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise InvalidRequestError("response must be an object.", param="response")
        unknown = sorted(set(value) - _RESPONSE_FIELDS)
        if unknown:
            raise InvalidRequestError(
                f"response.{unknown[0]} is not supported here.", param=f"response.{unknown[0]}"
            )
        if value.get("tools") not in (None, []):
            raise InvalidRequestError("There is no tool calling here.", param="response.tools")
        if value.get("conversation", "auto") != "auto":
            raise InvalidRequestError(
                "Responses here join the conversation (auto).", param="response.conversation"
            )
        instructions = value.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise InvalidRequestError(
                "instructions must be a string.", param="response.instructions"
            )
        metadata = value.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidRequestError("metadata must be an object.", param="response.metadata")
        key = "output_modalities" if "output_modalities" in value else "modalities"
        modalities = value.get(key)
        if modalities is not None and (
            not isinstance(modalities, list) or not set(modalities) <= {"text", "audio"}
        ):
            raise InvalidRequestError(
                f"{key} must list text and/or audio.", param=f"response.{key}"
            )
        shown = None if modalities is None else (("audio",) if "audio" in modalities else ("text",))
        cap = value.get("max_output_tokens", value.get("max_response_output_tokens"))
        if cap is not None and cap != "inf" and (not isinstance(cap, int) or cap < 1):
            raise InvalidRequestError(
                "max_output_tokens must be a positive integer or 'inf'.",
                param="response.max_output_tokens",
            )
        return cls(instructions, shown, metadata, cap)


_RESPONSE_FIELDS = frozenset(
    {
        "instructions",
        "metadata",
        "output_modalities",
        "modalities",
        "tools",
        "tool_choice",
        "conversation",
        "max_output_tokens",
        "max_response_output_tokens",
        "temperature",
        "voice",
        "audio",
    }
)


async def announce(
    channel: ClientChannel, config: SessionConfig, options: ResponseOptions
) -> Reply:
    """Open a response (`response.created`) before any of its work runs, so that one cancelled
    at once is still closed as OpenAI closes it."""
    modalities = list(options.modalities or config.output_modalities)
    reply = Reply(
        audio="audio" in modalities,
        metadata=options.metadata,
        modalities=modalities,
        max_output_tokens=options.max_output_tokens,
    )
    await channel.send(
        {
            "type": "response.created",
            "response": _response(reply, "in_progress", modalities, output=[]),
        }
    )
    return reply


async def respond(
    channel: ClientChannel,
    work: SessionWork,
    config: SessionConfig,
    options: ResponseOptions,
    messages: list[dict[str, Any]],
    previous_item_id: str | None,
    reply: Reply,
) -> Reply:
    """Answer the conversation; on cancellation the response is closed as cancelled."""
    if options.instructions is not None:
        config = replace(config, instructions=options.instructions)
    try:
        await _produce(channel, work, config, messages, previous_item_id, reply)
    except asyncio.CancelledError:
        await asyncio.shield(close_cancelled(channel, reply, work))
        raise
    except (GatewayError, UpstreamError) as exc:  # the work done so far is already charged
        event = failure_event(exc)
        await channel.send(event)
        failed = {"type": "failed", "error": {k: event["error"][k] for k in ("type", "code")}}
        await _close(channel, reply, "failed", work, failed)
        return reply
    body = _response(reply, "completed", reply.modalities, output=[reply.item("completed")])
    body["usage"] = work.usage(reply.id)
    reply.closed, reply.status = True, "completed"
    await channel.send({"type": "response.done", "response": body})
    return reply


async def close_cancelled(channel: ClientChannel, reply: Reply, work: SessionWork) -> None:
    """Close a response the client (or its speech) cancelled, unless it is closed already."""
    cancelled = {"type": "cancelled", "reason": "client_cancelled"}
    await _close(channel, reply, "cancelled", work, cancelled)


async def _produce(
    channel: ClientChannel,
    work: SessionWork,
    config: SessionConfig,
    messages: list[dict[str, Any]],
    previous_item_id: str | None,
    reply: Reply,
) -> None:
    added = reply.item("in_progress")
    await channel.send(
        {
            "type": "response.output_item.added",
            "response_id": reply.id,
            "output_index": 0,
            "item": added,
        }
    )
    await channel.send(
        {"type": "conversation.item.added", "previous_item_id": previous_item_id, "item": added}
    )
    reply.added = True
    reply.text = await work.answer(messages, config.instructions)
    at = reply.at()
    await channel.send(
        {"type": "response.content_part.added", **at, "part": {**reply.part(), **_empty(reply)}}
    )
    if reply.audio:
        await channel.send(
            {"type": "response.output_audio_transcript.delta", **at, "delta": reply.text}
        )
        async for pcm in work.speak(reply.text, config.voice, config.speed):
            reply.audio_bytes += len(pcm)
            delta = base64.b64encode(pcm).decode()
            await channel.send({"type": "response.output_audio.delta", **at, "delta": delta})
        await channel.send({"type": "response.output_audio.done", **at})
        await channel.send(
            {"type": "response.output_audio_transcript.done", **at, "transcript": reply.text}
        )
    else:
        await channel.send({"type": "response.output_text.delta", **at, "delta": reply.text})
        await channel.send({"type": "response.output_text.done", **at, "text": reply.text})
    await channel.send({"type": "response.content_part.done", **at, "part": reply.part()})
    done = reply.item("completed")
    await channel.send(
        {
            "type": "response.output_item.done",
            "response_id": reply.id,
            "output_index": 0,
            "item": done,
        }
    )
    await channel.send({"type": "conversation.item.done", "item": done})


async def _close(
    channel: ClientChannel,
    reply: Reply,
    status: str,
    work: SessionWork,
    details: dict[str, Any],
) -> None:
    """End a response that did not complete: its item incomplete, then response.done."""
    if reply.closed:
        return
    reply.closed, reply.status = True, status
    item = reply.item("incomplete")
    await channel.send(
        {
            "type": "response.output_item.done",
            "response_id": reply.id,
            "output_index": 0,
            "item": item,
        }
    )
    body = _response(reply, status, reply.modalities, output=[item])
    body["usage"] = work.usage(reply.id)
    body["status_details"] = details
    await channel.send({"type": "response.done", "response": body})


def _empty(reply: Reply) -> dict[str, Any]:
    return {"transcript": ""} if reply.audio else {"text": ""}


def _response(
    reply: Reply, status: str, modalities: list[str], output: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": reply.id,
        "object": "realtime.response",
        "status": status,
        "output_modalities": modalities,
        "output": output,
        "metadata": reply.metadata,
        "max_output_tokens": reply.max_output_tokens or "inf",
    }
