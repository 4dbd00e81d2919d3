"""An OpenAI realtime session's settings as Gemini Live takes them in its `setup`.

Read from either dialect's `session.update` (GA nests audio under `audio.input|output`; beta
keeps `voice`, `turn_detection` and `modalities` at the top): instructions become the
`systemInstruction`, the voice the prebuilt voice (already the Gemini voice the catalog maps
an OpenAI name to), function tools `functionDeclarations`, output modalities the
`responseModalities`. Gemini's automatic activity detection is always off: the translation
marks each user turn's activity itself (`live_input`), from the client's commits or, with
server VAD, from the gateway's own detector, tuned by the client's threshold, silence and
padding (`detection`); with `interrupt_response: false` the speech it hears does not stop an
answer (`activityHandling: NO_INTERRUPTION`). Both transcriptions are always asked for: the
gateway reports what was heard and said whatever the client asked.
"""

from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

from voxgate.audio.vad import EAGERNESS_SILENCE_MS

DEFAULT_VOICE = "Puck"
SERVER_VAD: dict[str, Any] = {"type": "server_vad"}
# The OpenAI defaults of server VAD, and its bounds.
DEFAULT_THRESHOLD, DEFAULT_SILENCE_MS, DEFAULT_PADDING_MS = 0.5, 500, 300
MAX_SILENCE_MS = 10_000


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class SpeechDetection:
    """What tunes the gateway's detector on a server VAD session (a `VadSettings`)."""

    threshold: float = DEFAULT_THRESHOLD
    silence_duration_ms: int = DEFAULT_SILENCE_MS
    prefix_padding_ms: int = DEFAULT_PADDING_MS

    @classmethod
    def of(cls, detection: dict[str, Any]) -> "SpeechDetection":
        """The client's turn_detection as the detector takes it: a value out of its range
        keeps the default; semantic_vad's eagerness is a silence."""
        silence = detection.get("silence_duration_ms")
        if detection.get("type") == "semantic_vad":
            silence = EAGERNESS_SILENCE_MS.get(str(detection.get("eagerness", "auto")))
        threshold = detection.get("threshold")
        return cls(
            threshold=float(threshold)
            if _number(threshold) and 0 < threshold < 1
            else DEFAULT_THRESHOLD,
            silence_duration_ms=_whole(silence, MAX_SILENCE_MS, DEFAULT_SILENCE_MS),
            prefix_padding_ms=_whole(
                detection.get("prefix_padding_ms"), MAX_SILENCE_MS, DEFAULT_PADDING_MS
            ),
        )


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: object, most: int, default: int) -> int:
    """`value` when it is a whole number of milliseconds from 0 to `most`, else `default`."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most:
        return value
    return default


@dataclass(frozen=True)
class LiveSettings:
    instructions: str = ""
    voice: str = DEFAULT_VOICE
    tools: tuple[dict[str, Any], ...] = ()
    audio_out: bool = True
    # The client's turn detection as it gave it; None is manual turns.
    turn_detection: dict[str, Any] | None = field(default_factory=lambda: dict(SERVER_VAD))
    temperature: float | None = None
    # The client's input transcription settings (what session views show).
    transcription: dict[str, Any] | None = None

    def updated(self, session: dict[str, Any]) -> "LiveSettings":
        """These settings with a session.update's (either dialect) applied."""
        audio = _object(session.get("audio"))
        given_in, given_out = _object(audio.get("input")), _object(audio.get("output"))
        changes: dict[str, Any] = {}
        if isinstance(session.get("instructions"), str):
            changes["instructions"] = session["instructions"]
        voice = given_out.get("voice", session.get("voice"))
        if isinstance(voice, str):
            changes["voice"] = voice
        if isinstance(session.get("tools"), list):
            changes["tools"] = tuple(t for t in session["tools"] if isinstance(t, dict))
        modalities = session.get("output_modalities", session.get("modalities"))
        if isinstance(modalities, list):
            changes["audio_out"] = "audio" in modalities
        for holder in (given_in, session):
            if "turn_detection" in holder:
                detection = holder["turn_detection"]
                changes["turn_detection"] = dict(detection) if isinstance(detection, dict) else None
                break
        for holder, name in ((given_in, "transcription"), (session, "input_audio_transcription")):
            if name in holder:
                changes["transcription"] = _object(holder[name]) or None
                break
        if isinstance(session.get("temperature"), int | float):
            changes["temperature"] = float(session["temperature"])
        return replace(self, **changes)

    def setup(self, model: str, handle: str | None) -> dict[str, Any]:
        """Gemini Live's setup message for these settings, resuming `handle` if given."""
        generation: dict[str, Any] = {"responseModalities": ["AUDIO" if self.audio_out else "TEXT"]}
        if self.audio_out:
            prebuilt = {"prebuiltVoiceConfig": {"voiceName": self.voice}}
            generation["speechConfig"] = {"voiceConfig": prebuilt}
        if self.temperature is not None:
            generation["temperature"] = self.temperature
        realtime_input: dict[str, Any] = {"automaticActivityDetection": {"disabled": True}}
        if (
            self.turn_detection is not None
            and self.turn_detection.get("interrupt_response") is False
        ):
            # The detected speech's activityStart then leaves the answer being spoken alone.
            realtime_input["activityHandling"] = "NO_INTERRUPTION"
        setup: dict[str, Any] = {
            "model": f"models/{model}",
            "generationConfig": generation,
            "realtimeInputConfig": realtime_input,
            "inputAudioTranscription": {},
            "sessionResumption": {"handle": handle} if handle else {},
        }
        if self.audio_out:
            setup["outputAudioTranscription"] = {}
        if self.instructions:
            setup["systemInstruction"] = {"parts": [{"text": self.instructions}]}
        declarations = [_declaration(tool) for tool in self.tools if tool.get("type") == "function"]
        if declarations:
            setup["tools"] = [{"functionDeclarations": declarations}]
        return {"setup": setup}

    @property
    def manual(self) -> bool:
        return self.turn_detection is None

    @property
    def detection(self) -> SpeechDetection | None:
        """How the gateway's detector hears the user's turns; None for manual turns."""
        if self.turn_detection is None:
            return None
        return SpeechDetection.of(self.turn_detection)

    def view(self, session_id: str, model: str, beta: bool) -> dict[str, Any]:
        """The session as `session.created|updated` shows it, in the client's dialect."""
        modalities = ["audio"] if self.audio_out else ["text"]
        pcm = {"type": "audio/pcm", "rate": 24_000}
        shared = {
            "id": session_id,
            "object": "realtime.session",
            "model": model,
            "instructions": self.instructions,
            "tools": list(self.tools),
            "tool_choice": "auto",
        }
        if beta:
            return shared | {
                "modalities": modalities,
                "voice": self.voice,
                "turn_detection": self.turn_detection,
                "input_audio_format": "pcm16",
                "output_audio_format": "pcm16",
                "input_audio_transcription": self.transcription,
            }
        return shared | {
            "type": "realtime",
            "output_modalities": modalities,
            "audio": {
                "input": {
                    "format": pcm,
                    "transcription": self.transcription,
                    "turn_detection": self.turn_detection,
                },
                "output": {"format": pcm, "voice": self.voice},
            },
        }


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI realtime function tool as a Gemini function declaration."""
    declaration: dict[str, Any] = {"name": str(tool.get("name", ""))}
    if isinstance(tool.get("description"), str):
        declaration["description"] = tool["description"]
    if isinstance(tool.get("parameters"), dict) and tool["parameters"].get("properties"):
        declaration["parameters"] = tool["parameters"]
    return declaration
