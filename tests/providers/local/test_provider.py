"""The embedded engine with its real models: speech, recognition, and its queue."""

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.audio_probe import word_error_rate
from voxgate.audio.resample import resample
from voxgate.errors import OverloadedError
from voxgate.providers.local import LocalProvider
from voxgate.providers.local import speech as local_speech
from voxgate.providers.protocols import (
    SpeechProvider,
    SpeechRequest,
    TranscriptionProvider,
    TranscriptionRequest,
    Upstream,
)
from voxgate.settings import Settings

pytestmark = pytest.mark.slow

PIPER = Upstream(model="piper")
TINY_EN = Upstream(model="whisper-tiny.en")
BASE = Upstream(model="whisper-base")
# How long the last sentence waits for the first to arrive before the stream is judged held.
FIRST_SENTENCE_WAIT_SECONDS = 60
SENTENCE = "Our new office is located near the central train station."
ROUND_TRIP = (
    "The quick brown fox jumps over the lazy dog.",
    "Please send the quarterly report to the finance team by Friday.",
    "She bought three apples, two oranges and a loaf of bread at the market.",
    "The weather tomorrow will be sunny with a light breeze in the afternoon.",
    "Our gateway converts audio formats and fails over between providers.",
)


@pytest.fixture(scope="module")
async def provider(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalProvider]:
    local = LocalProvider(Settings(data_dir=tmp_path_factory.mktemp("engine")))
    yield local
    await local.aclose()


async def speak(provider: LocalProvider, text: str) -> TranscriptionRequest:
    result = await provider.synthesize(SpeechRequest(text=text, voice="joe"), PIPER)
    return TranscriptionRequest(audio=resample(result.audio, 16_000))


def test_the_provider_satisfies_both_capabilities(provider: LocalProvider) -> None:
    speech: SpeechProvider = provider
    transcription: TranscriptionProvider = provider
    assert speech is provider and transcription is provider


async def test_speech_has_the_voice_rate_and_a_plausible_length(provider: LocalProvider) -> None:
    result = await provider.synthesize(SpeechRequest(text=SENTENCE, voice="joe"), PIPER)
    assert result.audio.sample_rate == 22_050
    assert 2.0 < result.audio.duration_seconds < 6.0


async def test_double_speed_takes_half_the_time(provider: LocalProvider) -> None:
    normal = await provider.synthesize(SpeechRequest(text=SENTENCE, voice="joe"), PIPER)
    fast = await provider.synthesize(SpeechRequest(text=SENTENCE, voice="joe", speed=2.0), PIPER)
    ratio = fast.audio.duration_seconds / normal.audio.duration_seconds
    assert 0.5 * 0.85 <= ratio <= 0.5 * 1.15


async def test_round_trip_of_five_sentences_keeps_the_words(provider: LocalProvider) -> None:
    heard = [
        (await provider.transcribe(await speak(provider, s), TINY_EN)).text for s in ROUND_TRIP
    ]
    assert word_error_rate(" ".join(ROUND_TRIP), " ".join(heard)) <= 0.1


async def test_spoken_turns_keep_their_words_on_the_quick_way(provider: LocalProvider) -> None:
    turns = [
        (await speak(provider, s)).model_copy(update={"spoken_turn": True, "language": "en"})
        for s in ROUND_TRIP
    ]
    heard = [(await provider.transcribe(turn, TINY_EN)).text for turn in turns]
    assert word_error_rate(" ".join(ROUND_TRIP), " ".join(heard)) <= 0.1


async def test_round_trip_through_tiny_en(provider: LocalProvider) -> None:
    result = await provider.transcribe(await speak(provider, SENTENCE), TINY_EN)
    assert result.language == "en"
    assert word_error_rate(SENTENCE, result.text) <= 0.1
    assert result.segments and result.segments[-1].end <= result.duration_seconds + 0.5


async def test_base_joins_its_parts_and_transcribes(provider: LocalProvider) -> None:
    request = (await speak(provider, SENTENCE)).model_copy(update={"language": "en"})
    result = await provider.transcribe(request, BASE)
    assert result.language == "en"
    assert word_error_rate(SENTENCE, result.text) <= 0.2


async def test_preload_joins_base_once_and_reuses_it(tmp_path: Path) -> None:
    joined = tmp_path / "models" / "whisper-base" / "model.bin"
    first = LocalProvider(Settings(data_dir=tmp_path))
    await first.preload()
    await first.aclose()
    built = joined.stat()
    second = LocalProvider(Settings(data_dir=tmp_path))
    await second.preload()
    await second.aclose()
    assert joined.stat().st_mtime_ns == built.st_mtime_ns
    assert built.st_size > 100_000_000
    assert not [path for path in joined.parent.iterdir() if path.name.startswith(".")]


async def test_english_only_model_refuses_translation(provider: LocalProvider) -> None:
    request = await speak(provider, "Hello.")
    with pytest.raises(ValueError, match="English only"):
        await provider.transcribe(request.model_copy(update={"translate": True}), TINY_EN)


async def test_english_only_model_refuses_other_languages(provider: LocalProvider) -> None:
    request = await speak(provider, "Hello.")
    with pytest.raises(ValueError, match="English only"):
        await provider.transcribe(request.model_copy(update={"language": "de"}), TINY_EN)


async def test_an_unknown_voice_is_refused(provider: LocalProvider) -> None:
    with pytest.raises(ValueError, match="unknown local voice"):
        await provider.synthesize(SpeechRequest(text=SENTENCE, voice="nobody"), PIPER)


async def test_sentences_stream_before_the_text_is_done(
    provider: LocalProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judged by order, not by arrival times a busy machine would skew: the last sentence is
    made only once the first has reached the reader, which a stream that held its sentences
    back until the end would never let happen."""
    first_arrived = threading.Event()
    made = 0
    make = local_speech._phrase_audio

    def last_waits_for_the_first(voice: Any, phonemes: list[str]) -> Any:
        nonlocal made
        made += 1
        if made == len(ROUND_TRIP):
            assert first_arrived.wait(FIRST_SENTENCE_WAIT_SECONDS), "the first was held back"
        return make(voice, phonemes)

    monkeypatch.setattr(local_speech, "_phrase_audio", last_waits_for_the_first)
    request = SpeechRequest(text=" ".join(ROUND_TRIP), voice="joe")
    arrivals = 0
    async for sentence in provider.stream_speech(request, PIPER):
        assert sentence.sample_rate == 22_050 and sentence.samples
        first_arrived.set()
        arrivals += 1
    assert arrivals == made == len(ROUND_TRIP)


async def test_the_event_loop_keeps_running_during_inference(provider: LocalProvider) -> None:
    request = await speak(provider, SENTENCE + " " + SENTENCE)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await provider.transcribe(request, TINY_EN)
    task.cancel()
    # A blocked loop would tick once at most; a free one ticks every 10 ms or so, fewer times
    # on a loaded machine, so the count is not held to the clock.
    assert ticks >= 3


async def test_a_full_queue_refuses_at_once(tmp_path: Path) -> None:
    local = LocalProvider(Settings(data_dir=tmp_path, engine_workers=1, engine_queue_size=1))
    try:
        request = SpeechRequest(text=SENTENCE * 3, voice="joe")
        first = asyncio.create_task(local.synthesize(request, PIPER))
        second = asyncio.create_task(local.synthesize(request, PIPER))
        await asyncio.sleep(0)
        with pytest.raises(OverloadedError) as caught:
            await local.synthesize(request, PIPER)
        assert caught.value.status_code == 503
        assert caught.value.headers["retry-after"] == "1"
        done = await asyncio.gather(first, second)
        assert all(result.audio.duration_seconds > 5 for result in done)
    finally:
        await local.aclose()


async def test_a_stream_left_early_frees_its_worker(tmp_path: Path) -> None:
    local = LocalProvider(Settings(data_dir=tmp_path, engine_workers=1, engine_queue_size=0))
    try:
        request = SpeechRequest(text=" ".join(ROUND_TRIP), voice="joe")
        stream = local.stream_speech(request, PIPER)
        async for _ in stream:
            break
        await stream.aclose()
        result = await local.synthesize(SpeechRequest(text="Hello.", voice="joe"), PIPER)
        assert result.audio.duration_seconds > 0.3
    finally:
        await local.aclose()
