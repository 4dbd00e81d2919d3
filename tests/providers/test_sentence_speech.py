"""Speech from a whole-answer provider, a sentence at a time: asked in order, each only after the
one before was taken, within the request's output-token cap, and faded at the joins."""

import asyncio
from contextlib import aclosing
from itertools import accumulate

import numpy as np

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.protocols import (
    MeteredPcm,
    ProviderUsage,
    SpeechRequest,
    SpeechResult,
    Upstream,
)
from voxgate.providers.sentence_speech import by_sentences, faded, sentences

RATE = 24_000
TOKENS_PER_SECOND = 25
TEXT = "One moment, please. I am looking that up! Would Tuesday suit you? Good."
# What the fake makes of each sentence (25 tokens a second, a tenth of a second a word), summed.
MADE_SO_FAR = list(accumulate(round(0.1 * len(s.split()) * 25) for s in sentences(TEXT)))


class WholeAnswers:
    """A provider that answers whole: a loud tone a tenth of a second per word, ending mid-wave,
    and the tokens it made (25 a second)."""

    def __init__(self, *, reports: bool = True) -> None:
        self.asked: list[SpeechRequest] = []
        self.reports = reports

    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult:
        self.asked.append(request)
        seconds = 0.1 * len(request.text.split())
        t = np.arange(round(seconds * RATE)) / RATE
        tone = (np.sin(2 * np.pi * 333 * t + 1.0) * 20_000).astype("<i2")
        tokens = round(seconds * TOKENS_PER_SECOND)
        usage = ProviderUsage(input_text_tokens=3, output_audio_tokens=tokens)
        return SpeechResult(
            PcmAudio(tone.tobytes(), RATE), usage if self.reports else ProviderUsage()
        )


def spoken(provider: WholeAnswers, request: SpeechRequest) -> list[MeteredPcm]:
    async def run() -> list[MeteredPcm]:
        pieces = by_sentences(provider.synthesize, request, Upstream(model="m"), TOKENS_PER_SECOND)
        return [piece async for piece in pieces]

    return asyncio.run(run())


def test_sentences_end_at_their_marks() -> None:
    assert sentences(TEXT) == [
        "One moment, please.",
        "I am looking that up!",
        "Would Tuesday suit you?",
        "Good.",
    ]
    assert sentences("No mark at the end") == ["No mark at the end"]


def test_each_sentence_is_asked_alone_and_the_usage_adds_up() -> None:
    provider = WholeAnswers()
    pieces = spoken(provider, SpeechRequest(text=TEXT, voice="v", speed=1.5))
    assert [r.text for r in provider.asked] == sentences(TEXT)
    assert all(r.speed == 1.5 for r in provider.asked)
    assert [p.usage.output_audio_tokens for p in pieces if p.usage] == MADE_SO_FAR
    assert [p.usage.input_text_tokens for p in pieces if p.usage] == [3, 6, 9, 12]


def test_a_piece_without_usage_counts_the_audio_it_made() -> None:
    pieces = spoken(WholeAnswers(reports=False), SpeechRequest(text=TEXT, voice="v"))
    assert [p.usage.output_audio_tokens for p in pieces if p.usage] == MADE_SO_FAR


def test_each_piece_is_capped_by_what_is_left_and_the_answer_ends_at_the_cap() -> None:
    provider = WholeAnswers()
    pieces = spoken(provider, SpeechRequest(text=TEXT, voice="v", max_output_tokens=13))
    assert [r.max_output_tokens for r in provider.asked] == [13, 13 - MADE_SO_FAR[0]]
    assert len(pieces) == 2


def test_the_next_sentence_is_asked_only_once_the_last_is_taken_and_a_hang_up_stops_them() -> None:
    provider = WholeAnswers()

    async def first_then_hang_up() -> None:
        pieces = by_sentences(
            provider.synthesize, SpeechRequest(text=TEXT, voice="v"), Upstream(model="m"), 25
        )
        async with aclosing(pieces):
            await anext(pieces)
            assert len(provider.asked) == 1

    asyncio.run(first_then_hang_up())
    assert len(provider.asked) == 1


def test_joins_are_faded_and_the_outer_ends_kept() -> None:
    provider = WholeAnswers()
    first, middle, *_ = spoken(provider, SpeechRequest(text=TEXT, voice="v"))
    first_samples = np.frombuffer(first.samples, dtype="<i2")
    middle_samples = np.frombuffer(middle.samples, dtype="<i2")
    assert abs(int(first_samples[0])) > 10_000  # where the speech begins, as made
    assert abs(int(first_samples[-1])) < 200 and abs(int(middle_samples[0])) < 200
    assert abs(int(middle_samples[-1])) < 200
    silent = PcmAudio(b"", RATE)
    assert faded(silent, head=True, tail=True) == silent
