"""A job whose caller went away (deadline, hang-up) stops at its next chunk and frees its worker."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.providers.local.engine import LocalEngine
from voxgate.providers.local.speech import LocalSpeech
from voxgate.providers.local.transcription import LocalTranscription
from voxgate.providers.protocols import SpeechRequest, TranscriptionRequest, Upstream
from voxgate.settings import Settings

pytestmark = pytest.mark.slow

PIPER = Upstream(model="piper")
BASE = Upstream(model="whisper-base")
PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. Please send the quarterly report to the "
    "finance team by Friday. She bought three apples, two oranges and a loaf of bread."
)
DEADLINE_SECONDS = 1.0
FREED_WITHIN_SECONDS = 2.0


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[LocalEngine]:
    """One worker and no queue: the next job can start only once the last one has ended."""
    local = LocalEngine(Settings(data_dir=tmp_path, engine_workers=1, engine_queue_size=1))
    yield local
    await local.aclose()


async def next_job_start(engine: LocalEngine) -> float:
    return await engine.run(lambda _stop: time.monotonic())


async def test_a_transcription_past_its_deadline_frees_the_worker(engine: LocalEngine) -> None:
    speech = await LocalSpeech(engine).synthesize(SpeechRequest(text=PARAGRAPH, voice="joe"), PIPER)
    # Some three minutes of speech: whisper-base takes far longer than the deadline on it.
    repeated = PcmAudio(speech.audio.samples * 20, speech.audio.sample_rate)
    long = TranscriptionRequest(audio=resample(repeated, 16_000))
    assert long.audio.duration_seconds > 150
    recognizer = LocalTranscription(engine)
    warm = TranscriptionRequest(audio=resample(speech.audio, 16_000))
    assert "fox" in (await recognizer.transcribe(warm, BASE)).text  # the model is loaded
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(DEADLINE_SECONDS):
            await recognizer.transcribe(long, BASE)
    cancelled = time.monotonic()
    assert await next_job_start(engine) - cancelled < FREED_WITHIN_SECONDS


async def test_speech_whose_caller_hung_up_frees_the_worker(engine: LocalEngine) -> None:
    speech = LocalSpeech(engine)
    await speech.synthesize(SpeechRequest(text="Warm up.", voice="joe"), PIPER)
    task = asyncio.create_task(
        speech.synthesize(SpeechRequest(text=PARAGRAPH * 20, voice="joe"), PIPER)
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), DEADLINE_SECONDS)
    task.cancel()  # the client hung up
    cancelled = time.monotonic()
    assert await next_job_start(engine) - cancelled < FREED_WITHIN_SECONDS
    with pytest.raises(asyncio.CancelledError):
        await task
    # The abandoned job itself ends at its next phrase, not after the other sixty.
    assert await job_ended(engine, within_seconds=30)


async def job_ended(engine: LocalEngine, within_seconds: float) -> bool:
    """Whether the drain permit the abandoned job held came back in time."""
    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline:
        if engine.drains.acquire(blocking=False):
            engine.drains.release()
            return True
        await asyncio.sleep(0.05)
    return False
