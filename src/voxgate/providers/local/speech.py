"""Speech with Piper, at the voice's own sample rate."""

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.tempo import change_tempo
from voxgate.providers.local.engine import LocalEngine
from voxgate.providers.protocols import SpeechRequest, SpeechResult, Upstream


async def synthesize(
    engine: LocalEngine, request: SpeechRequest, upstream: Upstream
) -> SpeechResult:
    return SpeechResult(await engine.run(lambda: _speak(engine, request)))


def _speak(engine: LocalEngine, request: SpeechRequest) -> PcmAudio:
    voice = engine.voice(request.voice)
    samples = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(request.text))
    # Piper's own length_scale leaves pauses unscaled, so the whole clip is time-stretched.
    return change_tempo(PcmAudio(samples, voice.config.sample_rate), request.speed)
