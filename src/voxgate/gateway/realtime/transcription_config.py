"""A transcription session's settings, from a GA `session.update` (`session.type:
"transcription"`, settings under `audio.input`) or a beta `transcription_session.update`, and
shown back in the dialect the client speaks.

The transcription model is the one the session names (a catalog row with the transcription
task, by id or alias), kept as named so the client sees its own name; an unknown one is refused
by name. What the gateway cannot act on is refused by name too, changing nothing.
"""

from dataclasses import dataclass, replace
from typing import Any

from voxgate.errors import InvalidRequestError
from voxgate.gateway.realtime.dialect import GA, Dialect, as_object
from voxgate.gateway.realtime.session_config import (
    RATE,
    TurnDetection,
    check_format,
    parse_turn_detection,
)

# The transcription model of a session that names none (OpenAI's own default for input
# transcription): served by OpenAI where it is configured, else by its local route.
DEFAULT_TRANSCRIPTION_MODEL = "whisper-1"
DEFAULT_TURN_DETECTION = TurnDetection()
TRANSCRIPTION_OBJECT = "realtime.transcription_session"
_GA_SESSION_KEYS = frozenset({"type", "audio", "include"})
_GA_INPUT_KEYS = frozenset({"format", "transcription", "turn_detection", "noise_reduction"})
_BETA_SESSION_KEYS = frozenset(
    {
        "input_audio_format",
        "input_audio_transcription",
        "turn_detection",
        "input_audio_noise_reduction",
        "include",
        "modalities",
        "client_secret",
    }
)
_TRANSCRIPTION_KEYS = frozenset({"model", "language", "prompt"})


@dataclass(frozen=True)
class TranscriptionConfig:
    id: str
    model: str
    language: str | None = None
    prompt: str | None = None
    turn_detection: TurnDetection | None = DEFAULT_TURN_DETECTION
    noise_reduction: dict[str, Any] | None = None

    def updated(self, update: object, beta: bool) -> "TranscriptionConfig":
        """This config with a session update applied (GA or beta shape), or
        InvalidRequestError naming the field the session cannot take."""
        if not isinstance(update, dict):
            raise InvalidRequestError("session must be an object.", param="session")
        return self._beta(update) if beta else self._ga(update)

    def _ga(self, update: dict[str, Any]) -> "TranscriptionConfig":
        _only(update, _GA_SESSION_KEYS, "session.")
        if update.get("type", "transcription") != "transcription":
            raise InvalidRequestError(
                "This is a transcription session: session.type must be 'transcription'.",
                param="session.type",
            )
        audio = update.get("audio") or {}
        if not isinstance(audio, dict):
            raise InvalidRequestError("session.audio must be an object.", param="session.audio")
        _only(audio, frozenset({"input"}), "session.audio.")
        given = audio.get("input") or {}
        if not isinstance(given, dict):
            raise InvalidRequestError(
                "session.audio.input must be an object.", param="session.audio.input"
            )
        where = "session.audio.input."
        _only(given, _GA_INPUT_KEYS, where)
        check_format(given.get("format"), f"{where}format")
        config = self._transcription(given, "transcription", where)
        if "turn_detection" in given:
            detection = parse_turn_detection(given["turn_detection"], f"{where}turn_detection")
            config = replace(config, turn_detection=detection)
        if "noise_reduction" in given:
            config = replace(config, noise_reduction=_noise(given, "noise_reduction", where))
        return config

    def _beta(self, update: dict[str, Any]) -> "TranscriptionConfig":
        _only(update, _BETA_SESSION_KEYS, "session.")
        check_format(update.get("input_audio_format"), "session.input_audio_format")
        config = self._transcription(update, "input_audio_transcription", "session.")
        if "turn_detection" in update:
            detection = parse_turn_detection(update["turn_detection"], "session.turn_detection")
            config = replace(config, turn_detection=detection)
        if "input_audio_noise_reduction" in update:
            noise = _noise(update, "input_audio_noise_reduction", "session.")
            config = replace(config, noise_reduction=noise)
        return config

    def _transcription(self, holder: dict[str, Any], key: str, where: str) -> "TranscriptionConfig":
        if key not in holder:
            return self
        given = holder[key]
        param = f"{where}{key}"
        if not isinstance(given, dict):
            raise InvalidRequestError(f"{param} must be an object.", param=param)
        _only(given, _TRANSCRIPTION_KEYS, f"{param}.")
        values: dict[str, str] = {}
        for name in ("model", "language", "prompt"):
            value = given.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise InvalidRequestError(
                    f"{param}.{name} must be a string.", param=f"{param}.{name}"
                )
            values[name] = value
        config = replace(self, model=values.get("model", self.model))
        if "language" in values:
            config = replace(config, language=values["language"])
        if "prompt" in values:
            config = replace(config, prompt=values["prompt"])
        return config

    def view(self, dialect: Dialect) -> dict[str, Any]:
        """The session as OpenAI shows a transcription session in this dialect."""
        transcription: dict[str, Any] = {"model": self.model}
        if self.language is not None:
            transcription["language"] = self.language
        if self.prompt is not None:
            transcription["prompt"] = self.prompt
        detection = self.turn_detection.view() if self.turn_detection else None
        if dialect.beta:
            return {
                "id": self.id,
                "object": TRANSCRIPTION_OBJECT,
                "modalities": ["text"],
                "input_audio_format": "pcm16",
                "input_audio_transcription": transcription,
                "turn_detection": detection,
                "input_audio_noise_reduction": self.noise_reduction,
            }
        return {
            "type": "transcription",
            "object": TRANSCRIPTION_OBJECT,
            "id": self.id,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": RATE},
                    "transcription": transcription,
                    "turn_detection": detection,
                    "noise_reduction": self.noise_reduction,
                }
            },
        }


def ga_settings(config: TranscriptionConfig) -> dict[str, Any]:
    """The config as a GA transcription session's settings (as a secret stores them)."""
    shown = config.view(GA)
    return {key: value for key, value in shown.items() if key not in ("id", "object")}


def named_model(session: dict[str, Any]) -> str | None:
    """The transcription model a session (GA or beta shape) names, if any."""
    ga = as_object(as_object(as_object(session.get("audio")).get("input")).get("transcription"))
    beta = as_object(session.get("input_audio_transcription"))
    model = ga.get("model", beta.get("model"))
    return model if isinstance(model, str) else None


def _only(given: dict[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise InvalidRequestError(
            f"{where}{unknown[0]} is not a setting of a transcription session.",
            param=f"{where}{unknown[0]}",
        )


def _noise(holder: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    """Noise reduction is accepted and shown: the detector and Whisper hear the audio as sent."""
    value = holder[key]
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("near_field", "far_field"):
        raise InvalidRequestError(
            f"{where}{key}.type must be near_field or far_field.", param=f"{where}{key}.type"
        )
    return dict(value)
