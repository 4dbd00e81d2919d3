"""A local session's settings: read from either dialect's `session.update`, shown in either.

What the session acts on (voice, instructions, output modalities, turn detection) is applied;
what it accepts without effect is listed; anything else is refused by name, changing nothing.
"""

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from voxgate.audio.vad import EAGERNESS_SILENCE_MS
from voxgate.errors import InvalidRequestError
from voxgate.gateway.realtime.dialect import Dialect

RATE = 24_000

# Accepted and echoed, but with no effect on a local session (no tools are ever offered).
_TOLERATED = frozenset(
    {
        "type",
        "model",
        "tool_choice",
        "temperature",
        "max_output_tokens",
        "max_response_output_tokens",
        "input_audio_transcription",
        "input_audio_noise_reduction",
        "include",
        "tracing",
        "truncation",
        "prompt",
    }
)
_PCM_FORMATS = frozenset({"pcm16", "audio/pcm"})


@dataclass(frozen=True)
class TurnDetection:
    threshold: float = 0.5
    silence_duration_ms: int = 500
    prefix_padding_ms: int = 300
    create_response: bool = True
    interrupt_response: bool = True
    eagerness: str | None = None  # set for semantic_vad

    def view(self) -> dict[str, Any]:
        shared = {
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }
        if self.eagerness is not None:
            return {"type": "semantic_vad", "eagerness": self.eagerness, **shared}
        return {
            "type": "server_vad",
            "threshold": self.threshold,
            "silence_duration_ms": self.silence_duration_ms,
            "prefix_padding_ms": self.prefix_padding_ms,
            **shared,
        }


@dataclass(frozen=True)
class SessionConfig:
    id: str
    model: str
    voice: str
    instructions: str = ""
    speed: float = 1.0
    output_modalities: tuple[str, ...] = ("audio",)
    turn_detection: TurnDetection | None = TurnDetection()

    def updated(self, update: object, dialect: Dialect, voices: Collection[str]) -> "SessionConfig":
        """This config with `update` applied, or InvalidRequestError naming the bad field."""
        if not isinstance(update, dict):
            raise InvalidRequestError("session must be an object.", param="session")
        audio = update.get("audio") or {}
        if not isinstance(audio, dict):
            raise InvalidRequestError("session.audio must be an object.", param="session.audio")
        unknown = set(update) - _TOLERATED - _APPLIED
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidRequestError(
                f"session.{name} is not supported by {self.model}.", param=f"session.{name}"
            )
        _check_tools(update.get("tools"))
        config = self
        voice = _dig(audio, "output", "voice") if "audio" in update else update.get("voice")
        if voice is not None:
            param = "session.audio.output.voice" if "audio" in update else "session.voice"
            if voice not in voices:
                raise InvalidRequestError(
                    f"Voice '{voice}' is not one of {self.model}'s voices: {', '.join(voices)}.",
                    param=param,
                )
            config = replace(config, voice=str(voice))
        speed = _dig(audio, "output", "speed") if "audio" in update else update.get("speed")
        if speed is not None:
            param = "session.audio.output.speed" if "audio" in update else "session.speed"
            config = replace(config, speed=_speed(speed, param))
        if "instructions" in update:
            config = replace(config, instructions=_text(update["instructions"], "instructions"))
        modalities_key = "modalities" if dialect.beta else "output_modalities"
        if modalities_key in update or "modalities" in update:
            key = modalities_key if modalities_key in update else "modalities"
            config = replace(config, output_modalities=_modalities(update[key], key))
        for fmt_path in (("input", "format"), ("output", "format")):
            check_format(_dig(audio, *fmt_path), "session.audio." + ".".join(fmt_path))
        for key in ("input_audio_format", "output_audio_format"):
            check_format(update.get(key), f"session.{key}")
        detection_path = ("input", "turn_detection")
        if "audio" in update and _has(audio, *detection_path):
            detection = _dig(audio, *detection_path)
            param = "session.audio.input.turn_detection"
            config = replace(config, turn_detection=parse_turn_detection(detection, param))
        elif "turn_detection" in update:
            param = "session.turn_detection"
            config = replace(
                config, turn_detection=parse_turn_detection(update["turn_detection"], param)
            )
        return config

    def view(self, dialect: Dialect) -> dict[str, Any]:
        detection = self.turn_detection.view() if self.turn_detection else None
        if dialect.beta:
            return {
                "id": self.id,
                "object": "realtime.session",
                "modalities": list(self.output_modalities),
                "instructions": self.instructions,
                "voice": self.voice,
                "speed": self.speed,
                "input_audio_format": "pcm16",
                "output_audio_format": "pcm16",
                "turn_detection": detection,
            }
        pcm = {"type": "audio/pcm", "rate": RATE}
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.id,
            "model": self.model,
            "instructions": self.instructions,
            "output_modalities": list(self.output_modalities),
            "audio": {
                "input": {"format": pcm, "turn_detection": detection},
                "output": {"format": pcm, "voice": self.voice, "speed": self.speed},
            },
        }


_APPLIED = frozenset(
    {
        "audio",
        "voice",
        "instructions",
        "output_modalities",
        "modalities",
        "turn_detection",
        "input_audio_format",
        "output_audio_format",
        "tools",
        "speed",
    }
)
SPEED_RANGE = (0.25, 1.5)


def _has(mapping: dict[str, Any], *path: str) -> bool:
    for key in path[:-1]:
        mapping = mapping.get(key) or {}
        if not isinstance(mapping, dict):
            return False
    return path[-1] in mapping


def _dig(mapping: dict[str, Any], *path: str) -> Any:
    value: Any = mapping
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(f"session.{name} must be a string.", param=f"session.{name}")
    return value


def _modalities(value: object, name: str) -> tuple[str, ...]:
    allowed = ({"audio"}, {"text"}, {"text", "audio"})
    if not isinstance(value, list) or set(value) not in allowed:
        raise InvalidRequestError(
            f"session.{name} must be ['audio'], ['text'] or ['text', 'audio'].",
            param=f"session.{name}",
        )
    return ("audio",) if "audio" in value else ("text",)


def _speed(value: object, param: str) -> float:
    low, high = SPEED_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRequestError(f"speed must be a number from {low} to {high}.", param=param)
    return float(value)


def check_format(value: object, param: str) -> None:
    if value is None:
        return
    kind = value.get("type") if isinstance(value, dict) else value
    rate = value.get("rate", RATE) if isinstance(value, dict) else RATE
    if kind not in _PCM_FORMATS or rate != RATE:
        raise InvalidRequestError(
            "This session speaks 24 kHz 16-bit PCM only (audio/pcm, pcm16).", param=param
        )


def _check_tools(tools: object) -> None:
    if tools not in (None, []):
        raise InvalidRequestError(
            "This session has no tool calling; send no tools.", param="session.tools"
        )


def parse_turn_detection(value: object, param: str) -> TurnDetection | None:
    if value is None:
        return None
    kind = value.get("type", "server_vad") if isinstance(value, dict) else None
    if not isinstance(value, dict) or kind not in ("server_vad", "semantic_vad"):
        raise InvalidRequestError(
            "turn_detection must be server_vad, semantic_vad or null.", param=param
        )
    if kind == "semantic_vad":
        return _semantic(value, param)
    base = TurnDetection()
    try:
        detection = TurnDetection(
            threshold=float(value.get("threshold", base.threshold)),
            silence_duration_ms=int(value.get("silence_duration_ms", base.silence_duration_ms)),
            prefix_padding_ms=int(value.get("prefix_padding_ms", base.prefix_padding_ms)),
            create_response=bool(value.get("create_response", base.create_response)),
            interrupt_response=bool(value.get("interrupt_response", base.interrupt_response)),
        )
    except (TypeError, ValueError) as exc:
        message = "turn_detection has a value of the wrong type."
        raise InvalidRequestError(message, param=param) from exc
    if not 0 < detection.threshold < 1 or not 0 <= detection.silence_duration_ms <= 10_000:
        raise InvalidRequestError(
            "turn_detection.threshold must be in (0, 1) and silence_duration_ms in [0, 10000].",
            param=param,
        )
    return detection


def _semantic(value: dict[str, Any], param: str) -> TurnDetection:
    eagerness = value.get("eagerness", "auto")
    if eagerness not in EAGERNESS_SILENCE_MS:
        raise InvalidRequestError(
            "eagerness must be low, medium, high or auto.", param=f"{param}.eagerness"
        )
    return TurnDetection(
        silence_duration_ms=EAGERNESS_SILENCE_MS[eagerness],
        create_response=bool(value.get("create_response", True)),
        interrupt_response=bool(value.get("interrupt_response", True)),
        eagerness=eagerness,
    )
