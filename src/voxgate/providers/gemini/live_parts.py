"""The pieces a Gemini Live translation is made of: ids, the conversation as the client sees it,
the user's turn and the response under way, and the client's audio and function output as
Gemini takes them."""

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.providers.gemini.live_cap import OutputCap

CLIENT_RATE, GEMINI_INPUT_RATE = 24_000, 16_000


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def as_object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class ClientView:
    """The conversation as the client sees it: its events, in order, as OpenAI names them (GA),
    and its items."""

    out: list[dict[str, Any]] = field(default_factory=list)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_item: str | None = None

    def emit(self, kind: str, **fields: Any) -> None:
        self.out.append({"type": kind, "event_id": new_id("event"), **fields})

    def added(self, item: dict[str, Any], previous: str | None, *, done: bool = True) -> None:
        self.items[item["id"]] = item
        self.last_item = item["id"]
        self.emit("conversation.item.added", previous_item_id=previous, item=item)
        if done:
            self.emit("conversation.item.done", previous_item_id=previous, item=item)

    def refuse(self, event: dict[str, Any], message: str, *, code: str = "unsupported") -> None:
        error = {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": None,
            "event_id": event.get("event_id"),
        }
        self.emit("error", error=error)


@dataclass
class UserTurn:
    item_id: str
    transcript: list[str] = field(default_factory=list)
    committed: bool = False
    speaking: bool = False


@dataclass
class LiveResponse:
    id: str
    output: list[dict[str, Any]] = field(default_factory=list)
    message: dict[str, Any] | None = None
    said: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    cancelled: bool = False
    # Its function calls are made: it closes with the usage that follows them.
    called: bool = False
    # The output cap it was asked with (the gateway's hold), and what it forwarded.
    cap: OutputCap = field(default_factory=OutputCap)


def audio_input(pcm: bytes) -> dict[str, Any]:
    """Client audio (24 kHz PCM16) as Gemini's realtime input (16 kHz)."""
    at_16k = resample(PcmAudio(pcm[: len(pcm) // 2 * 2], CLIENT_RATE), GEMINI_INPUT_RATE)
    blob = {"data": base64.b64encode(at_16k.samples).decode(), "mimeType": "audio/pcm;rate=16000"}
    return {"realtimeInput": {"audio": blob}}


def parsed(output: object) -> object:
    """A function's output as the client wrote it: JSON when it is JSON."""
    if not isinstance(output, str):
        return output
    try:
        return orjson.loads(output)
    except orjson.JSONDecodeError:
        return output
