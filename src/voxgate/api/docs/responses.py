"""What POST /api/v1/audio answers for each task of a row: the `object`, the keys and JSON types
of `data` and `usage`, and a sample response. The shapes follow the job that serves the task
(speech, a chat-model route, a cascade, speech-to-text, a minted realtime session); the docs'
end-to-end test checks them against a real gateway's answers."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.catalog.schema import ModelRow
from voxgate.gateway.pipeline import RESPONSE_OBJECTS
from voxgate.gateway.quotes import SAMPLE_SECONDS, sample_usage
from voxgate.types import AudioFormat, Task

REALTIME_RATE = 24_000
SAMPLE_EXPIRES_AT = 1_767_225_600


@dataclass(frozen=True)
class ResponseKey:
    """One key of a response object: its JSON type as the page names it, and a sample value."""

    name: str
    type: str
    sample: Any


@dataclass(frozen=True)
class TaskResponse:
    task: Task
    object: str
    data: tuple[ResponseKey, ...]
    usage: tuple[ResponseKey, ...]

    @property
    def sample(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "data": {key.name: key.sample for key in self.data},
            "usage": {key.name: key.sample for key in self.usage},
        }

    @property
    def sample_json(self) -> str:
        return json.dumps(self.sample, indent=2, ensure_ascii=False)


def task_responses(row: ModelRow, base_url: str) -> tuple[TaskResponse, ...]:
    """One response per task the row serves, in the order of RESPONSE_OBJECTS."""
    return tuple(
        TaskResponse(task, RESPONSE_OBJECTS[task], _data(row, task, base_url), _usage(row, task))
        for task in RESPONSE_OBJECTS
        if task in row.tasks
    )


def _data(row: ModelRow, task: Task, base_url: str) -> tuple[ResponseKey, ...]:
    # The same choice the gateway makes: realtime mints a session before any job is built; a
    # cascade row, a chat-model row and the speech and speech-to-text rows each build their own.
    if task == "realtime":
        return _realtime(row, base_url)
    if task in ("transcription", "translation"):
        # A chat-model route does not report the language: it echoes the request's own.
        language = None if row.interface == "chat" else "en"
        return (
            ResponseKey("text", "string", "Hello there."),
            ResponseKey("language", "string | null", language),
            ResponseKey("duration", "number", float(SAMPLE_SECONDS)),
        )
    audio_format = cast(AudioFormat, row.example.get("response_format") or row.default_format)
    audio = (
        ResponseKey("content_type", "string", OUTPUT_FORMATS[audio_format or "mp3"].content_type),
        ResponseKey("audio_base64", "string", "<base64-audio>"),
    )
    if task != "audio_chat":
        return audio
    if row.cascade is not None:
        return (
            *audio,
            ResponseKey("transcript", "string", "Paris is the capital of France."),
            ResponseKey("input_transcript", "string", "What is the capital of France?"),
        )
    return (*audio, ResponseKey("transcript", "string", "One endpoint means one key to keep."))


def _realtime(row: ModelRow, base_url: str) -> tuple[ResponseKey, ...]:
    example = row.example
    output: dict[str, Any] = {
        "voice": example.get("voice") or row.default_voice,
        "format": {"type": "audio/pcm", "rate": REALTIME_RATE},
    }
    session = {
        "type": "realtime",
        "model": row.id,
        "instructions": example.get("input", ""),
        "audio": {"output": output},
    }
    socket = "ws" + base_url.removeprefix("http") + f"/v1/realtime?model={row.id}"
    return (
        ResponseKey("client_secret", "string", "ek_<secret>"),
        ResponseKey("expires_at", "integer", SAMPLE_EXPIRES_AT),
        ResponseKey("websocket_url", "string", socket),
        ResponseKey("session", "object", session),
    )


USAGE_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "estimated_audio_minutes": "string",
        "audio_seconds": "number",
        "input_characters": "integer",
        "input_tokens": "integer",
        "output_tokens": "integer",
        "cost_usd": "string",
        "cost_micro_usd": "integer",
    }
)


def _usage(row: ModelRow, task: Task) -> tuple[ResponseKey, ...]:
    """A usage object as the gateway would write it for a short request, priced by the row."""
    body = sample_usage(row, task)
    return tuple(ResponseKey(name, kind, body[name]) for name, kind in USAGE_TYPES.items())
