"""The upstream events a relayed session reads, beyond passing them on: which it parses, and
the usage a `response.done` or an input transcription reports, as the provider reported it."""

from typing import Any

import orjson

from voxgate.billing.pricing import Metered
from voxgate.gateway.realtime.dialect import as_object

TRANSCRIBED = "conversation.item.input_audio_transcription.completed"


def response_usage(event: dict[str, Any]) -> Metered:
    usage = as_object(as_object(event.get("response")).get("usage"))
    details_in = as_object(usage.get("input_token_details"))
    details_out = as_object(usage.get("output_token_details"))
    return Metered(
        input_text_tokens=_count(details_in.get("text_tokens")),
        input_audio_tokens=_count(details_in.get("audio_tokens")),
        output_text_tokens=_count(details_out.get("text_tokens")),
        output_audio_tokens=_count(details_out.get("audio_tokens")),
        requests=0,
    )


def transcription_usage(event: dict[str, Any]) -> Metered:
    """Input transcription is billed apart from responses: by tokens, or by duration."""
    usage = as_object(event.get("usage"))
    if usage.get("type") == "duration":
        seconds = usage.get("seconds")
        milliseconds = round(float(seconds) * 1000) if isinstance(seconds, int | float) else 0
        return Metered(audio_milliseconds=max(0, milliseconds), requests=0)
    details = as_object(usage.get("input_token_details"))
    return Metered(
        input_text_tokens=_count(details.get("text_tokens")),
        input_audio_tokens=_count(details.get("audio_tokens")),
        output_text_tokens=_count(usage.get("output_tokens")),
        requests=0,
    )


AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
TEXT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.text.delta",
        "response.output_audio_transcript.delta",
        "response.audio_transcript.delta",
    }
)
PARSED = (
    '"session.created"',
    '"session.updated"',
    '"conversation.item.created"',
    '"conversation.item.added"',
    '"conversation.item.done"',
    '"conversation.item.deleted"',
    '"input_audio_buffer.speech_stopped"',
    '"input_audio_buffer.committed"',
    '"response.created"',
    '"response.done"',
    TRANSCRIBED,
    *(f'"{kind}"' for kind in AUDIO_DELTAS | TEXT_DELTAS),
)


def is_server_error(text: str) -> bool:
    event = orjson.loads(text)
    return bool(
        event.get("type") == "error" and as_object(event.get("error")).get("type") == "server_error"
    )


def text_of(message: str | bytes) -> str:
    return message if isinstance(message, str) else message.decode()


def response_id_of(event: dict[str, Any]) -> str:
    return str(as_object(event.get("response")).get("id"))


def _count(value: object) -> int:
    """A token count as the provider reported it; anything but a non-negative integer is 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
