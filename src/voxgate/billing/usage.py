"""The usage record every request leaves behind, and each upstream attempt on it."""

from dataclasses import dataclass, fields
from typing import Any, Literal

import orjson


@dataclass(frozen=True, slots=True)
class Attempt:
    route: str
    provider: str
    status: str
    latency_ms: int
    error: str | None = None


# succeeded; partial (cut short, charged what was delivered); failed; rejected (refused before
# any call).
UsageStatus = Literal["succeeded", "partial", "failed", "rejected"]


@dataclass(frozen=True, slots=True)
class SessionLine:
    """One piece of a realtime session drawn from its hold: what it was (`response.done`,
    `response.partial`, a transcription, `chat`, `speech`), where it ran, and the usage record
    (`<session request id>.N`) that prices it."""

    piece: str
    request_id: str
    provider: str
    route: str
    status: UsageStatus


@dataclass(frozen=True, slots=True)
class UsageRecord:
    request_id: str
    workspace_id: str
    key_id: str
    model: str
    task: str
    status: UsageStatus
    http_status: int
    latency_ms: int
    provider: str | None = None
    route: str | None = None
    error_code: str | None = None
    input_text_tokens: int = 0
    output_text_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    input_characters: int = 0
    audio_milliseconds: int = 0
    cost_micro_usd: int = 0
    charged_micro_usd: int = 0
    hold_micro_usd: int = 0
    # What the provider bills the operator for this work, at the catalog's price for the route
    # that served it (which a failover can make dearer than the requested model's).
    provider_cost_micro_usd: int = 0
    # The provider sent more than the request's cap: it was cut there and charged the hold.
    provider_overrun: bool = False
    # The provider reported no usage: the cost comes from the gateway's own measurement.
    estimated: bool = False
    # The provider's reported usage and the gateway's measurement of the audio disagree by
    # more than billing.metering.USAGE_MISMATCH_RATIO.
    usage_mismatch: bool = False
    # Answered from the speech cache at its price: no provider was called.
    cached: bool = False
    attempts: tuple[Attempt, ...] = ()
    # A realtime session's pieces: on the session's record, each one drawn; on a piece's own
    # record, that piece.
    lines: tuple[SessionLine, ...] = ()

    def row(self) -> dict[str, Any]:
        """The record's columns, its attempts and lines as JSON arrays (orjson writes
        dataclasses)."""
        # Not asdict(): its deep copy is the costliest part of writing a record.
        values = {name: getattr(self, name) for name in _RECORD_FIELDS}
        values["attempts"] = orjson.dumps(self.attempts).decode()
        values["lines"] = orjson.dumps(self.lines).decode()
        return values


_RECORD_FIELDS = tuple(field.name for field in fields(UsageRecord))
