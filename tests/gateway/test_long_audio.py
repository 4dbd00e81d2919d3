"""Splitting audio at its silences, stitching what each piece heard, and the bounded parallel
calls between them."""

import asyncio
from functools import partial
from itertools import pairwise

import numpy as np
import pytest

from voxgate.audio.pcm import PcmAudio
from voxgate.gateway.long_audio import (
    OVERLAP_SECONDS,
    WAV_HEADER_BYTES,
    in_bounded_parallel,
    split_at_silences,
    stitch,
)
from voxgate.providers.protocols import TranscriptionResult, TranscriptSegment, TranscriptWord

RATE = 16_000


def speech_with_pauses(loud: float, quiet: float, repeats: int) -> PcmAudio:
    """A tone `loud` seconds long then `quiet` seconds of near-silence, `repeats` times."""
    t = np.arange(round(loud * RATE)) / RATE
    tone = (np.sin(2 * np.pi * 300 * t) * 9000).astype("<i2")
    hush = np.random.default_rng(7).integers(-40, 40, round(quiet * RATE)).astype("<i2")
    return PcmAudio(np.tile(np.concatenate([tone, hush]), repeats).tobytes(), RATE)


def wav_bytes(seconds: float) -> int:
    return WAV_HEADER_BYTES + round(seconds * RATE) * 2


def test_audio_within_the_limit_is_one_piece() -> None:
    audio = speech_with_pauses(4, 1, 10)
    (piece,) = split_at_silences(audio, wav_bytes(audio.duration_seconds))
    assert piece.audio == audio and piece.start == 0


def test_pieces_fit_the_limit_cover_the_whole_and_are_cut_in_pauses() -> None:
    loud, quiet = 7.0, 3.0
    audio = speech_with_pauses(loud, quiet, 60)  # ten minutes
    limit = wav_bytes(95)
    pieces = split_at_silences(audio, limit)
    assert len(pieces) >= 600 // 95
    assert all(WAV_HEADER_BYTES + len(p.audio.samples) <= limit for p in pieces)
    assert pieces[0].start == 0
    last = pieces[-1]
    assert last.start + last.audio.duration_seconds == pytest.approx(audio.duration_seconds)
    for before, after in pairwise(pieces):
        cut = before.keep_until
        assert after.keep_from == cut
        assert after.start == pytest.approx(cut - OVERLAP_SECONDS / 2)
        assert before.start + before.audio.duration_seconds == pytest.approx(
            cut + OVERLAP_SECONDS / 2
        )
        # The whole overlap lies in a pause.
        within = cut % (loud + quiet)
        assert loud + OVERLAP_SECONDS / 2 <= within + 1e-3
        assert within <= loud + quiet - OVERLAP_SECONDS / 2 + 1e-3


def test_a_limit_too_small_to_split_for_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        split_at_silences(speech_with_pauses(4, 1, 10), wav_bytes(5))


def heard(words: list[tuple[str, float, float]], duration: float) -> TranscriptionResult:
    """What a recognizer says of a piece: its words, each a segment of its own (as a pause
    between them ends one)."""
    return TranscriptionResult(
        text=" ".join(w for w, _, _ in words),
        language="en",
        duration_seconds=duration,
        segments=tuple(TranscriptSegment(start, end, word) for word, start, end in words),
        words=tuple(TranscriptWord(start, end, word) for word, start, end in words),
    )


def test_stitching_offsets_timestamps_and_counts_overlap_words_once() -> None:
    audio = speech_with_pauses(7, 3, 30)  # five minutes
    first, second = split_at_silences(audio, wav_bytes(200))
    cut = first.keep_until
    # Each piece heard "okay" in the overlap, half a second either side of the cut.
    tail = cut - first.start - 0.4, cut - first.start - 0.1
    head = cut - second.start - 0.4, cut - second.start - 0.1
    results = [
        heard([("hello", 1.0, 1.5), ("okay", *tail)], first.audio.duration_seconds),
        heard([("okay", *head), ("goodbye", 3.0, 3.5)], second.audio.duration_seconds),
    ]
    whole = stitch([first, second], results, audio.duration_seconds)
    assert [w.word for w in whole.words] == ["hello", "okay", "goodbye"]
    assert whole.words[1].start == pytest.approx(cut - 0.4, abs=1e-3)
    assert whole.words[2].start == pytest.approx(second.start + 3.0, abs=1e-3)
    assert [s.start for s in whole.segments] == [w.start for w in whole.words]
    assert whole.text == "hello okay goodbye"
    assert whole.duration_seconds == audio.duration_seconds


def test_stitching_pieces_without_segments_joins_their_texts() -> None:
    audio = speech_with_pauses(7, 3, 30)
    pieces = split_at_silences(audio, wav_bytes(200))
    results = [TranscriptionResult(f"part {i}", "en", 1.0) for i in range(len(pieces))]
    assert stitch(pieces, results, 300).text == "part 0 part 1"


def test_no_more_than_the_limit_run_at_once_and_answers_keep_their_order() -> None:
    running, most = 0, 0

    async def call(value: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        running -= 1
        return value

    calls = [partial(call, v) for v in range(10)]
    assert asyncio.run(in_bounded_parallel(calls, 3)) == list(range(10))
    assert most == 3


def test_the_first_failure_cancels_the_rest_and_is_raised_as_it_came() -> None:
    started: list[int] = []

    async def call(value: int) -> int:
        started.append(value)
        if value == 1:
            raise LookupError("piece 1 failed")
        await asyncio.Event().wait()  # never answers
        return value

    async def run() -> None:
        with pytest.raises(LookupError, match="piece 1"):
            await in_bounded_parallel([partial(call, v) for v in range(6)], 2)

    asyncio.run(run())
    # Two at a time; the failure's slot may go to one more before the rest are cancelled.
    assert started[:2] == [0, 1] and len(started) <= 3
