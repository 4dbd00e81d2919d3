"""Speech on the embedded engine with Piper, whole or sentence by sentence."""

from collections.abc import AsyncIterator, Iterator
from functools import partial

from piper import PiperVoice, SynthesisConfig

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.local.engine import LocalEngine
from voxgate.providers.protocols import ProviderUsage, SpeechRequest, SpeechResult, Upstream


class LocalSpeech:
    def __init__(self, engine: LocalEngine) -> None:
        self._engine = engine

    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult:
        voice_name = self._engine.models.voice_name(request.voice, upstream.model)
        job = partial(self._speak_whole, voice_name, request.text, request.speed)
        audio = await self._engine.run(job)
        return SpeechResult(audio, ProviderUsage(audio_seconds=audio.duration_seconds))

    async def stream_sentences(
        self, request: SpeechRequest, upstream: Upstream
    ) -> AsyncIterator[PcmAudio]:
        """One PcmAudio per sentence, each as soon as Piper has made it."""
        voice_name = self._engine.models.voice_name(request.voice, upstream.model)
        job = partial(self._speak_sentences, voice_name, request.text, request.speed)
        async for sentence in self._engine.iterate(job):
            yield sentence

    def _speak_whole(self, voice_name: str, text: str, speed: float) -> PcmAudio:
        voice = self._engine.voice(voice_name)
        sentences = self._speak_sentences(voice_name, text, speed)
        samples = b"".join(sentence.samples for sentence in sentences)
        return PcmAudio(samples, voice.config.sample_rate)

    def _speak_sentences(self, voice_name: str, text: str, speed: float) -> Iterator[PcmAudio]:
        voice = self._engine.voice(voice_name)
        settings = SynthesisConfig(length_scale=length_scale(voice, speed))
        for chunk in voice.synthesize(text, syn_config=settings):
            yield PcmAudio(chunk.audio_int16_bytes, chunk.sample_rate)


def length_scale(voice: PiperVoice, speed: float) -> float:
    # Relative to the voice's own tuned pace rather than 1, so speed 1 sounds as its author meant.
    return voice.config.length_scale / speed
