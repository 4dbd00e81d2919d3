"""Speech on the embedded engine with Piper, whole or sentence by sentence."""

from collections.abc import AsyncGenerator, Iterator
from functools import partial

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.tempo import change_tempo
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

    def stream_sentences(
        self, request: SpeechRequest, upstream: Upstream
    ) -> AsyncGenerator[PcmAudio, None]:
        """One PcmAudio per sentence, each as soon as Piper has made it; close it to stop early."""
        voice_name = self._engine.models.voice_name(request.voice, upstream.model)
        job = partial(self._speak_sentences, voice_name, request.text, request.speed)
        return self._engine.iterate(job)

    def _speak_whole(self, voice_name: str, text: str, speed: float) -> PcmAudio:
        voice = self._engine.voice(voice_name)
        sentences = self._speak_sentences(voice_name, text, speed)
        samples = b"".join(sentence.samples for sentence in sentences)
        return PcmAudio(samples, voice.config.sample_rate)

    def _speak_sentences(self, voice_name: str, text: str, speed: float) -> Iterator[PcmAudio]:
        # Speed is a tempo change rather than Piper's length_scale: measured on this voice,
        # length_scale 1/2 shortens speech only to 0.64 of its length and 1/4 only to 0.5.
        voice = self._engine.voice(voice_name)
        for chunk in voice.synthesize(text):
            yield change_tempo(PcmAudio(chunk.audio_int16_bytes, chunk.sample_rate), speed)
