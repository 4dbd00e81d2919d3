"""An OpenAI realtime session's settings as Gemini Live takes them in its `setup`.

Read from either dialect's `session.update` (GA nests audio under `audio.input|output`; beta
keeps `voice`, `turn_detection` and `modalities` at the top): instructions become the
`systemInstruction`, the voice the prebuilt voice (already the Gemini voice the catalog maps
an OpenAI name to), function tools `functionDeclarations`, output modalities the
`responseModalities`, and turn detection Gemini's automatic activity detection (its silence
and padding) or, when the client turns it off, manual activity. Both transcriptions are always
asked for: the gateway reports what was heard and said whatever the client asked.
"""

from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_VOICE = "Puck"
SERVER_VAD: dict[str, Any] = {"type": "server_vad"}


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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
        setup: dict[str, Any] = {
            "model": f"models/{model}",
            "generationConfig": generation,
            "realtimeInputConfig": {"automaticActivityDetection": self._activity_detection()},
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

    def _activity_detection(self) -> dict[str, Any]:
        detection = self.turn_detection
        if detection is None:
            return {"disabled": True}
        given: dict[str, Any] = {"disabled": False}
        for ours, theirs in (
            ("silence_duration_ms", "silenceDurationMs"),
            ("prefix_padding_ms", "prefixPaddingMs"),
        ):
            if isinstance(detection.get(ours), int):
                given[theirs] = detection[ours]
        return given

    @property
    def manual(self) -> bool:
        return self.turn_detection is None

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
