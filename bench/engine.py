"""The embedded engine's speed on this machine: real-time factors and time to first byte.

Run: .venv/bin/python bench/engine.py
Real-time factor (RTF) = processing time / audio duration; below 1 is faster than real time.
"""

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.providers.local import LocalProvider
from voxgate.providers.protocols import SpeechRequest, TranscriptionRequest, Upstream
from voxgate.settings import Settings

TEXT = (
    "Teams put the gateway in front of their speech providers. It resolves the route, maps "
    "voices and formats between providers, and fails over to the next route or key. It holds "
    "credit before the call and settles the exact cost after it, then records the usage. The "
    "embedded engine speaks and listens on this machine without any network at all."
)
RUNS = 3


async def timed(work: Awaitable[object]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


async def first_byte(provider: LocalProvider, request: SpeechRequest) -> float:
    """Until the first byte of an mp3 answer exists: synthesis plus encoding (no streaming yet)."""
    started = time.perf_counter()
    result = await provider.synthesize(request, Upstream(model="piper"))
    await asyncio.to_thread(encode, result.audio, "mp3")
    return time.perf_counter() - started


async def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        provider = LocalProvider(Settings(data_dir=Path(data_dir)))
        await provider.preload()
        speech = SpeechRequest(text=TEXT, voice="joe")
        audio = (await provider.synthesize(speech, Upstream(model="piper"))).audio
        seconds = audio.duration_seconds
        speak = [
            await timed(provider.synthesize(speech, Upstream(model="piper"))) for _ in range(RUNS)
        ]
        rows = [("speech (Piper joe)", seconds, statistics.median(speak))]
        ttfb = statistics.median([await first_byte(provider, speech) for _ in range(RUNS)])
        # Transcribe the same 25-second clip three times over (~75 s), a realistic upload.
        clip = resample(audio, 16_000)
        long_clip = PcmAudio(clip.samples * 3, clip.sample_rate)
        for model in ("whisper-tiny.en", "whisper-base"):
            request = TranscriptionRequest(audio=long_clip)
            upstream = Upstream(model=model)
            await provider.transcribe(TranscriptionRequest(audio=clip), upstream)
            took = [await timed(provider.transcribe(request, upstream)) for _ in range(RUNS)]
            rows.append(
                (f"transcription ({model})", long_clip.duration_seconds, statistics.median(took))
            )
        await provider.aclose()
    print(f"{'what':32} {'audio s':>8} {'time s':>8} {'RTF':>7}")
    for name, duration, took in rows:
        print(f"{name:32} {duration:8.2f} {took:8.3f} {took / duration:7.3f}")
    print(f"time to first byte of a {len(TEXT)}-character mp3 answer: {ttfb * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
