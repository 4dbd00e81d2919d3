"""Server VAD from Silero (the model faster-whisper ships), fed 24 kHz PCM as it arrives.

Speech starts when a window's speech probability reaches the session's threshold; it stops
after `silence_duration_ms` of windows below it. Each call scores the new 32 ms windows with a
second of the audio before them, so the detector's recurrent state warms up on real context.
The local realtime engine and the Gemini Live translation both find their turns with it.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample

INPUT_RATE = 24_000  # what the realtime protocol's input audio is
VAD_RATE = 16_000
WINDOW = 512  # samples at 16 kHz: 32 ms, Silero's window
WINDOW_MS = WINDOW * 1000 // VAD_RATE
WARM_UP_WINDOWS = 31


# semantic_vad's eagerness as the silence that ends a turn: the detector here hears speech,
# not meaning, so an eager setting ends turns on shorter pauses.
EAGERNESS_SILENCE_MS = {"low": 1200, "medium": 700, "auto": 700, "high": 350}


class VadSettings(Protocol):
    """What the detector is tuned by (a session's turn detection)."""

    @property
    def threshold(self) -> float: ...

    @property
    def silence_duration_ms(self) -> int: ...

    @property
    def prefix_padding_ms(self) -> int: ...


def silero() -> Any:
    """The shared Silero model (faster-whisper caches it), loaded by the first session."""
    from faster_whisper.vad import get_vad_model  # imported only by processes that serve VAD

    return get_vad_model()


@dataclass
class SpeechEdge:
    kind: str  # "started" or "stopped"
    at_ms: int


@dataclass
class Vad:
    settings: VadSettings
    model: Any = field(default_factory=silero)
    speaking: bool = False
    quiet_ms: int = 0
    heard_ms: int = 0
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    history: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def feed(self, pcm: bytes) -> list[SpeechEdge]:
        """The speech edges in this chunk of 24 kHz PCM16 (blocking: run it off the loop)."""
        audio = resample(PcmAudio(pcm[: len(pcm) // 2 * 2], INPUT_RATE), VAD_RATE)
        samples = np.frombuffer(audio.samples, dtype="<i2").astype(np.float32) / 32768
        self.pending = np.concatenate([self.pending, samples])
        whole = len(self.pending) // WINDOW * WINDOW
        if whole == 0:
            return []
        fresh, self.pending = self.pending[:whole], self.pending[whole:]
        scored = np.concatenate([self.history, fresh])
        probabilities = np.asarray(self.model(scored)).reshape(-1)[-(whole // WINDOW) :]
        self.history = scored[-WARM_UP_WINDOWS * WINDOW :]
        return [edge for p in probabilities if (edge := self._window(float(p))) is not None]

    def _window(self, probability: float) -> SpeechEdge | None:
        self.heard_ms += WINDOW_MS
        speech = probability >= self.settings.threshold
        if speech and not self.speaking:
            self.speaking, self.quiet_ms = True, 0
            start = self.heard_ms - WINDOW_MS - self.settings.prefix_padding_ms
            return SpeechEdge("started", max(0, start))
        if self.speaking:
            self.quiet_ms = 0 if speech else self.quiet_ms + WINDOW_MS
            if self.quiet_ms >= self.settings.silence_duration_ms:
                self.speaking = False
                return SpeechEdge("stopped", self.heard_ms)
        return None

    def reset(self) -> None:
        self.speaking, self.quiet_ms = False, 0
