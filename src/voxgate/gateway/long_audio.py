"""Audio past a route's upload limit: cut at its quietest points into pieces that fit, each
overlapping the next a little, transcribed a few at a time, and stitched into one answer.

A piece goes upstream as the decoded samples in a 16 kHz WAV, whose size is its duration (about
13 minutes fit OpenAI's 25 MB). Each cut is the centre of the quietest overlap-long stretch in
the seconds before the latest point the piece could end, so the overlap is as silent as the
recording allows; what each piece heard is kept on its own side of the cut, timestamps shifted
by where the piece begins, so a word in the overlap is counted once.
"""

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

import numpy as np

from voxgate.audio.pcm import BYTES_PER_SAMPLE, PcmAudio
from voxgate.providers.protocols import (
    ProviderUsage,
    TranscriptionResult,
    TranscriptSegment,
    TranscriptWord,
)

WAV_HEADER_BYTES = 44
# The audio two neighbouring pieces share, half on each side of the cut between them.
OVERLAP_SECONDS = 1.0
# How far before a piece's latest possible end its cut is looked for.
SEARCH_SECONDS = 20.0
# The step at which loudness is measured.
FRAME_SECONDS = 0.02

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of the whole: its samples, where it begins in the whole, and the cuts around it
    (the part of what it heard that is its own to keep), in seconds of the whole."""

    audio: PcmAudio
    start: float
    keep_from: float
    keep_until: float

    def owns(self, start: float, end: float) -> bool:
        """Whether a word or segment it heard, at these times within the piece, is its own."""
        middle = self.start + (start + end) / 2
        return self.keep_from <= middle < self.keep_until


def fits(audio: PcmAudio, max_bytes: int) -> bool:
    return WAV_HEADER_BYTES + len(audio.samples) <= max_bytes


def split_at_silences(audio: PcmAudio, max_bytes: int) -> list[Piece]:
    """Pieces of at most `max_bytes` as a WAV each, cut at the quietest points near each limit."""
    rate = audio.sample_rate
    total = len(audio.samples) // BYTES_PER_SAMPLE
    most = (max_bytes - WAV_HEADER_BYTES) // BYTES_PER_SAMPLE
    half = round(OVERLAP_SECONDS * rate / 2)
    search = round(SEARCH_SECONDS * rate)
    if most <= 2 * half + search:
        raise ValueError(f"an upload limit of {max_bytes} bytes is too small to split audio for")
    samples = np.frombuffer(audio.samples, dtype="<i2")
    cuts: list[int] = []
    start = 0
    while total - start > most:
        latest = start + most - half
        cut = _quietest(samples, latest - search, latest, 2 * half, rate)
        cuts.append(cut)
        start = cut - half
    pieces = []
    bounds = [0, *cuts, total]
    for index, (cut_before, cut_after) in enumerate(pairwise(bounds)):
        low, high = max(cut_before - half, 0), min(cut_after + half, total)
        body = audio.samples[low * BYTES_PER_SAMPLE : high * BYTES_PER_SAMPLE]
        pieces.append(
            Piece(
                PcmAudio(body, rate),
                start=low / rate,
                keep_from=cut_before / rate if index else -math.inf,
                keep_until=cut_after / rate if cut_after < total else math.inf,
            )
        )
    return pieces


def _quietest(samples: np.ndarray, low: int, high: int, width: int, rate: int) -> int:
    """The centre of the quietest `width` samples between `low` and `high` (the latest, where
    several are as quiet: the longer piece)."""
    frame = max(round(FRAME_SECONDS * rate), 1)
    window = samples[low:high].astype(np.float32)
    frames = window[: len(window) // frame * frame].reshape(-1, frame)
    energy = np.mean(frames * frames, axis=1)
    span = max(width // frame, 1)
    quiet = np.convolve(energy, np.ones(span, dtype=np.float32), mode="valid")
    latest_quietest = len(quiet) - 1 - int(np.argmin(quiet[::-1]))
    return low + latest_quietest * frame + span * frame // 2


async def in_bounded_parallel(calls: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Every call's answer in order, at most `limit` running at once; the first failure cancels
    the rest and is raised as it came (so the failover loop sees the provider's own error)."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def stitch(
    pieces: Sequence[Piece], results: Sequence[TranscriptionResult], duration: float
) -> TranscriptionResult:
    """One answer from each piece's: segments and words moved to the whole's timeline, each
    kept by the piece whose side of the cut it falls on; the text is the kept segments' where
    every piece has them, else the pieces' texts joined."""
    segments = tuple(
        TranscriptSegment(_at(piece, s.start), _at(piece, s.end), s.text)
        for piece, result in zip(pieces, results, strict=True)
        for s in result.segments
        if piece.owns(s.start, s.end)
    )
    words = tuple(
        TranscriptWord(_at(piece, w.start), _at(piece, w.end), w.word)
        for piece, result in zip(pieces, results, strict=True)
        for w in result.words
        if piece.owns(w.start, w.end)
    )
    every_piece_has_segments = all(result.segments for result in results)
    texts = [s.text for s in segments] if every_piece_has_segments else [r.text for r in results]
    billed = [result.usage.audio_seconds for result in results]
    return TranscriptionResult(
        text=" ".join(text.strip() for text in texts if text.strip()),
        language=results[0].language,
        duration_seconds=duration,
        segments=segments,
        words=words,
        usage=ProviderUsage(
            audio_seconds=None if None in billed else sum(s for s in billed if s is not None)
        ),
    )


def _at(piece: Piece, seconds: float) -> float:
    return round(piece.start + seconds, 3)
