"""The simulator's audio: real speech and recognition from the local engine, or fixed bytes."""

import math
from dataclasses import dataclass

import numpy as np

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.providers.local import LocalProvider
from voxgate.providers.protocols import SpeechRequest, TranscriptionRequest, Upstream

RATE = 24_000
FAST_TRANSCRIPT = "This is the simulator's transcript."


@dataclass(frozen=True, slots=True)
class Heard:
    text: str
    language: str


class SimEngine:
    """`local` None means fast mode: a one-second tone for any speech, a fixed transcript."""

    def __init__(self, local: LocalProvider | None) -> None:
        self._local = local

    async def speak(self, text: str, speed: float = 1.0) -> PcmAudio:
        if self._local is None:
            return _tone(seconds=1.0)
        request = SpeechRequest(text=text, voice="joe", speed=speed)
        result = await self._local.synthesize(request, Upstream(model="piper"))
        return resample(result.audio, RATE)

    async def warm_up(self) -> None:
        """Load the voice and both recognizers before the first request, so that request is
        answered in its usual time rather than after the models load."""
        await self.speak("Ready.")
        await self.hear(_tone(seconds=0.5))
        await self.hear(_tone(seconds=0.5), translate=True)

    async def hear(self, audio: PcmAudio, *, translate: bool = False) -> Heard:
        if self._local is None:
            return Heard(FAST_TRANSCRIPT, "en")
        model = "whisper-base" if translate else "whisper-tiny.en"
        request = TranscriptionRequest(audio=resample(audio, 16_000), translate=translate)
        result = await self._local.transcribe(request, Upstream(model=model))
        return Heard(result.text, result.language)


def _tone(seconds: float) -> PcmAudio:
    t = np.arange(int(RATE * seconds)) / RATE
    samples = (np.sin(2 * math.pi * 440 * t) * 6000).astype("<i2")
    return PcmAudio(samples.tobytes(), RATE)
