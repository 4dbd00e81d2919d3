"""The embedded engine's speed on this machine: real-time factors, accuracy, time to first audio.

Run: .venv/bin/python -m bench.engine
Real-time factor (RTF) = processing time / audio duration; below 1 is faster than real time.
Word error rate (WER) is of a Piper -> Whisper round trip on the same sentences.
Engine threads and workers come from the VOXGATE_ENGINE_* settings, as in the server.
"""

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy
from tests.audio_probe import word_error_rate

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.providers.local.engine import LocalEngine
from voxgate.providers.local.models import LocalModels, load_local_models
from voxgate.providers.local.speech import LocalSpeech
from voxgate.providers.local.transcription import LocalTranscription
from voxgate.providers.protocols import SpeechRequest, TranscriptionRequest, Upstream
from voxgate.settings import Settings

TEXT = (
    "Teams put the gateway in front of their speech providers. It resolves the route, maps "
    "voices and formats between providers, and fails over to the next route or key. It holds "
    "credit before the call and settles the exact cost after it, then records the usage. The "
    "embedded engine speaks and listens on this machine without any network at all."
)
SHORT = "Please send the quarterly report to the finance team by Friday."
PIPER = Upstream(model="piper")
TINY = "whisper-tiny.en"
BASE = "whisper-base"
RUNS = 3
PAUSE_SECONDS = 4
ROOM_NOISE_LEVEL = 30  # of 32767: a quiet room, so the pauses are not digital silence
DECODING_OPTIONS = [(beam, vad) for beam in (1, 5) for vad in (False, True)]


@dataclass(frozen=True)
class Clip:
    label: str
    said: str
    audio: PcmAudio


@dataclass(frozen=True)
class Row:
    what: str
    audio_seconds: float
    took_seconds: float
    wer: float | None = None

    def render(self) -> str:
        wer = "" if self.wer is None else f"{self.wer:6.1%}"
        rtf = self.took_seconds / self.audio_seconds
        return (
            f"{self.what:58} {self.audio_seconds:8.2f} {self.took_seconds:8.3f} {rtf:7.3f} {wer:>6}"
        )


async def median_seconds(work: Callable[[], Awaitable[object]], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def speech_rows(speech: LocalSpeech) -> tuple[list[Row], PcmAudio]:
    request = SpeechRequest(text=TEXT, voice="joe")
    audio = (await speech.synthesize(request, PIPER)).audio
    took = await median_seconds(lambda: speech.synthesize(request, PIPER))
    return [Row(f"speech, Piper joe ({len(TEXT)} chars)", audio.duration_seconds, took)], audio


async def transcription_row(
    transcription: LocalTranscription, model: str, clip: Clip, runs: int = RUNS
) -> Row:
    upstream = Upstream(model=model)
    request = TranscriptionRequest(audio=clip.audio, language="en")
    heard = (await transcription.transcribe(request, upstream)).text
    took = await median_seconds(lambda: transcription.transcribe(request, upstream), runs)
    wer = word_error_rate(clip.said, heard)
    return Row(f"{model}, {clip.label}", clip.audio.duration_seconds, took, wer)


async def spoken_clips(speech: LocalSpeech, long_audio: PcmAudio) -> list[Clip]:
    long_clip = resample(long_audio, 16_000)
    short_audio = (await speech.synthesize(SpeechRequest(text=SHORT, voice="joe"), PIPER)).audio
    return [
        Clip(
            "text said 3 times",
            " ".join([TEXT] * 3),
            replace(long_clip, samples=long_clip.samples * 3),
        ),
        Clip("one sentence", SHORT, resample(short_audio, 16_000)),
        Clip("text with pauses", TEXT, await with_pauses(speech)),
    ]


async def with_pauses(speech: LocalSpeech) -> PcmAudio:
    """The text's sentences with a few seconds of room noise after each, like a dictation."""
    noise = numpy.random.default_rng(0).normal(0, ROOM_NOISE_LEVEL, PAUSE_SECONDS * 16_000)
    pause = noise.astype("<i2").tobytes()
    request = SpeechRequest(text=TEXT, voice="joe")
    sentences = [resample(s, 16_000).samples async for s in speech.stream_sentences(request, PIPER)]
    return PcmAudio(b"".join(sentence + pause for sentence in sentences), 16_000)


async def stream_timing(speech: LocalSpeech) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = 0.0
    chunks = 0
    async for _ in speech.stream_sentences(SpeechRequest(text=TEXT, voice="joe"), PIPER):
        chunks += 1
        first = first or time.perf_counter() - started
    return first, time.perf_counter() - started, chunks


def with_decoding(models: LocalModels, model: str, beam: int, vad: bool) -> LocalModels:
    spec = models.transcription[model].model_copy(update={"beam_size": beam, "vad_filter": vad})
    return models.model_copy(update={"transcription": {**models.transcription, model: spec}})


async def decoding_rows(settings: Settings, model: str, clips: list[Clip]) -> list[Row]:
    """Each decoding option once per clip: the table that chose beam_size and vad_filter."""
    rows = []
    for beam, vad in DECODING_OPTIONS:
        engine = LocalEngine(settings, with_decoding(load_local_models(), model, beam, vad))
        transcription = LocalTranscription(engine)
        for clip in clips:
            row = await transcription_row(transcription, model, clip, runs=1)
            rows.append(replace(row, what=f"{row.what}, beam={beam} vad={vad}"))
        await engine.aclose()
    return rows


async def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir))
        engine = LocalEngine(settings)
        await engine.preload()
        speech, transcription = LocalSpeech(engine), LocalTranscription(engine)
        rows, audio = await speech_rows(speech)
        clips = await spoken_clips(speech, audio)
        for model in (TINY, BASE):
            rows.extend([await transcription_row(transcription, model, clip) for clip in clips])
        first, total, chunks = await stream_timing(speech)
        await engine.aclose()
        options = {model: await decoding_rows(settings, model, clips) for model in (TINY, BASE)}
    print(
        f"engine: {settings.engine_workers} workers x {settings.engine_threads_per_worker} threads"
    )
    header = f"{'what':58} {'audio s':>8} {'time s':>8} {'RTF':>7} {'WER':>6}"
    tables = {"chosen settings": rows, **{f"{m} decoding options": t for m, t in options.items()}}
    for title, table in tables.items():
        print(f"\n{title}\n{header}")
        print("\n".join(row.render() for row in table))
    print(f"\nstreamed speech, {len(TEXT)} chars in {chunks} sentences:")
    print(f"first sentence after {first * 1000:.0f} ms, all after {total * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
