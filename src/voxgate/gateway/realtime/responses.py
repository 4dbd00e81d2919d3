"""One response of a served session, its events in the order OpenAI documents: created, the
output item and its content part, deltas, the part's and item's done, then `response.done`."""

import asyncio
import base64
import secrets
from dataclasses import dataclass, field
from typing import Any

from voxgate.gateway.realtime.session_config import SessionConfig
from voxgate.gateway.realtime.wire import ClientChannel
from voxgate.gateway.realtime.work import SessionWork


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass
class Reply:
    """What the response has produced so far: enough to close it properly if cancelled."""

    id: str = field(default_factory=lambda: new_id("resp"))
    item_id: str = field(default_factory=lambda: new_id("item"))
    text: str = ""
    audio: bool = True
    spoke: bool = False

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


async def respond(
    channel: ClientChannel,
    work: SessionWork,
    config: SessionConfig,
    messages: list[dict[str, Any]],
    previous_item_id: str | None,
) -> Reply:
    """Answer the conversation; on cancellation the response is closed as cancelled."""
    reply = Reply(audio="audio" in config.output_modalities)
    modalities = list(config.output_modalities)
    await channel.send(
        {
            "type": "response.created",
            "response": _response(reply, "in_progress", modalities, output=[]),
        }
    )
    status, details = "completed", None
    try:
        await _produce(channel, work, config, messages, previous_item_id, reply)
    except asyncio.CancelledError:
        status, details = "cancelled", {"type": "cancelled", "reason": "client_cancelled"}
        await asyncio.shield(_close_cancelled(channel, reply, modalities, work, details))
        raise
    body = _response(reply, status, modalities, output=[reply.item("completed")])
    body["usage"] = work.usage(reply.id)
    body["status_details"] = details
    await channel.send({"type": "response.done", "response": body})
    return reply


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
    reply.text = await work.answer(messages, config.instructions)
    at = reply.at()
    await channel.send(
        {"type": "response.content_part.added", **at, "part": {**reply.part(), **_empty(reply)}}
    )
    if reply.audio:
        await channel.send(
            {"type": "response.output_audio_transcript.delta", **at, "delta": reply.text}
        )
        reply.spoke = True
        async for pcm in work.speak(reply.text, config.voice):
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


async def _close_cancelled(
    channel: ClientChannel,
    reply: Reply,
    modalities: list[str],
    work: SessionWork,
    details: dict[str, Any],
) -> None:
    item = reply.item("incomplete")
    await channel.send(
        {
            "type": "response.output_item.done",
            "response_id": reply.id,
            "output_index": 0,
            "item": item,
        }
    )
    body = _response(reply, "cancelled", modalities, output=[item])
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
    }
