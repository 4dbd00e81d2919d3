"""Text too long to speak in ten minutes is refused before the engine speaks any of it."""

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from voxgate.errors import InvalidRequestError
from voxgate.providers.local.engine import LocalEngine
from voxgate.providers.local.speech import LocalSpeech
from voxgate.providers.protocols import SpeechRequest, Upstream
from voxgate.settings import Settings

pytestmark = pytest.mark.slow

PIPER = Upstream(model="piper")
# Each emoji is read by its name (eSpeak reads a run of them as one word, cut short, so they
# are spaced): 1,600 of them are some fifteen minutes of speech.
EMOJI = "😀 🎉 🚀 🌍 " * 400


@pytest.fixture
async def speech(tmp_path: Path) -> AsyncIterator[LocalSpeech]:
    engine = LocalEngine(Settings(data_dir=tmp_path, engine_workers=1))
    speech = LocalSpeech(engine)
    await speech.synthesize(SpeechRequest(text="Warm up.", voice="joe"), PIPER)
    yield speech
    await engine.aclose()


async def test_speech_past_ten_minutes_is_refused_before_it_is_spoken(
    speech: LocalSpeech,
) -> None:
    # The engine's workers are threads of this process: its CPU time counts what they spent.
    # Speaking even a minute of the text takes more than this.
    started = time.process_time()
    with pytest.raises(InvalidRequestError) as refused:
        await speech.synthesize(SpeechRequest(text=EMOJI, voice="joe"), PIPER)
    spent = time.process_time() - started
    assert (refused.value.param, refused.value.code) == ("input", "speech_too_long")
    assert spent < 3.0, f"the refusal took {spent:.1f} s of CPU"


async def test_streamed_speech_past_ten_minutes_is_refused_before_its_first_phrase(
    speech: LocalSpeech,
) -> None:
    phrases = speech.stream_sentences(SpeechRequest(text=EMOJI, voice="joe"), PIPER)
    with pytest.raises(InvalidRequestError) as refused:
        await anext(phrases)
    assert refused.value.code == "speech_too_long"
    await phrases.aclose()
