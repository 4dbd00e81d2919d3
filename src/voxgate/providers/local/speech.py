"""Speech with Piper: one chunk of PCM per sentence, at the voice's own sample rate."""

from collections.abc import Iterator

from piper import SynthesisConfig

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.local.engine import LocalEngine
from voxgate.providers.protocols import SpeechRequest, SpeechResult, Upstream


async def synthesize(
    engine: LocalEngine, request: SpeechRequest, upstream: Upstream
) -> SpeechResult:
    chunks = await engine.run(lambda: list(_sentences(engine, request)))
    rate = chunks[0].sample_rate if chunks else _native_rate(engine, request.voice)
    return SpeechResult(PcmAudio(b"".join(chunk.samples for chunk in chunks), rate))


def _sentences(engine: LocalEngine, request: SpeechRequest) -> Iterator[PcmAudio]:
    voice = engine.voice(request.voice)
    # Piper stretches phoneme durations, so the pitch stays where it was.
    config = SynthesisConfig(length_scale=1.0 / request.speed)
    for chunk in voice.synthesize(request.text, syn_config=config):
        yield PcmAudio(chunk.audio_int16_bytes, chunk.sample_rate)


def _native_rate(engine: LocalEngine, voice: str) -> int:
    rate: int = engine.voice(voice).config.sample_rate
    return rate
