"""How long text can take to say, and text too long for one request spoken in pieces.

Every speech hold and every cap sent upstream with speech is built from `spoken_length`: the
letters a text can take to read aloud, at most. A piece of speech is joined to the next with a
short fade at the seam, so no click is heard where one request's audio meets the next.
"""

import re
import unicodedata
from collections.abc import Callable

import numpy as np

from voxgate.audio.pcm import PcmAudio

# Slow speech runs about 0.15 s per spoken letter; a faster speed shortens it.
SLOWEST_SECONDS_PER_LETTER = 0.15
# How many letters a character becomes when read aloud, at most: an emoji is read by its name
# ("smiling face with heart-shaped eyes"), a digit by its number words.
SPOKEN_SYMBOL_LETTERS = 40
SPOKEN_DIGIT_LETTERS = 10
# A capital may be read as a letter's name ("NASA", "MMXXIV" read as a number).
SPOKEN_CAPITAL_LETTERS = 3
# Other scripts, measured on the embedded voice (Piper's joe, which the simulator speaks with):
# the slowest seconds per character of runs and of single spaced characters of each script,
# as letters of 0.15 s with a quarter more. Alphabets and syllabaries read as sounds run to
# 0.35 s a character (Hangul 0.27, Cyrillic 0.30, Greek 0.34); those whose letters are often
# read by name run to 1.0 s (CJK 0.76, Arabic 0.74, Hebrew 0.67, accented Latin 0.52, kana
# 0.86, full-width 0.99). A script not measured is held as the slowest measured: Ethiopic
# 1.81 s, Thai 1.16, Khmer 1.32, Tibetan 1.27, mathematical letters 1.55.
SPOKEN_SCRIPT_LETTERS = {
    "HANGUL": 3,
    "DEVANAGARI": 3,
    "CYRILLIC": 3,
    "GREEK": 3,
    "TAMIL": 3,
    "GEORGIAN": 3,
    "ARMENIAN": 3,
    "BENGALI": 3,
    "CHEROKEE": 3,
    "CJK": 9,
    "ARABIC": 9,
    "HEBREW": 9,
    "LATIN": 9,
    "HIRAGANA": 9,
    "KATAKANA": 9,
    "FULLWIDTH": 9,
}
SPOKEN_UNMEASURED_LETTERS = 16
# Where a long text is cut first (after a sentence), then (after a word), then anywhere.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？؟।\n])\s+")
_WORD_END = re.compile(r"(?<=\s)")
# The fade at each seam between two pieces of speech: 10 ms ramps from and to silence.
SEAM_SECONDS = 0.01


def spoken_length(text: str) -> int:
    """The letters `text` can take to say, for a hold that bounds speech priced by duration."""
    return sum(_spoken_letters(character) for character in text)


def _spoken_letters(character: str) -> int:
    if character.isascii():
        if character.isdigit():
            return SPOKEN_DIGIT_LETTERS
        return SPOKEN_CAPITAL_LETTERS if character.isupper() else 1
    category = unicodedata.category(character)
    if category.startswith("S"):
        return SPOKEN_SYMBOL_LETTERS
    if category.startswith("Z"):
        return 1
    script = unicodedata.name(character, "").partition(" ")[0]
    return SPOKEN_SCRIPT_LETTERS.get(script, SPOKEN_UNMEASURED_LETTERS)


def pieces(text: str, fits: Callable[[str], bool]) -> list[str]:
    """`text` cut into consecutive pieces that each `fits`: as many whole sentences as fit,
    else whole words, else characters (a character that does not fit alone is a piece of its
    own). Joined, the pieces are the text again. Each piece's end is found by bisection, so
    `fits` is asked a few times a piece, whatever the text's length."""
    return _packed(text, fits, [_SENTENCE_END, _WORD_END])


def _packed(text: str, fits: Callable[[str], bool], cuts: list[re.Pattern[str]]) -> list[str]:
    if fits(text):
        return [text]
    units = [unit for unit in _split_keeping(text, cuts[0]) if unit] if cuts else list(text)
    if cuts and len(units) == 1:
        return _packed(text, fits, cuts[1:])
    packed: list[str] = []
    start = 0
    while start < len(units):
        end = _furthest(units, start, fits)
        if end > start:
            packed.append("".join(units[start:end]))
        elif cuts:
            packed.extend(_packed(units[start], fits, cuts[1:]))
        else:
            packed.append(units[start])
        start = max(end, start + 1)
    return packed


def _furthest(units: list[str], start: int, fits: Callable[[str], bool]) -> int:
    """The largest `end` such that `units[start:end]` joined fits (`start` if none does)."""
    low, high = start, len(units)
    while low < high:
        middle = (low + high + 1) // 2
        if fits("".join(units[start:middle])):
            low = middle
        else:
            high = middle - 1
    return low


def _split_keeping(text: str, cut: re.Pattern[str]) -> list[str]:
    """`text` cut after each match of `cut`, the matched space kept with the unit before."""
    units, start = [], 0
    for match in cut.finditer(text):
        if match.end() > start:
            units.append(text[start : match.end()])
            start = match.end()
    return [*units, text[start:]]


def joined(audio: list[PcmAudio]) -> PcmAudio:
    """Pieces of speech as one, each seam faded out and in so that no step is heard."""
    rate = audio[0].sample_rate
    samples = [
        faded(piece, start=index > 0, end=index < len(audio) - 1)
        for index, piece in enumerate(audio)
    ]
    return PcmAudio(b"".join(samples), rate)


def faded(audio: PcmAudio, *, start: bool, end: bool) -> bytes:
    """`audio`'s samples with a ramp from silence at its start and to silence at its end."""
    samples = np.frombuffer(audio.samples, dtype="<i2").astype(np.float32)
    ramp = np.linspace(0.0, 1.0, min(int(audio.sample_rate * SEAM_SECONDS), samples.size // 2))
    if start and ramp.size:
        samples[: ramp.size] *= ramp
    if end and ramp.size:
        samples[samples.size - ramp.size :] *= ramp[::-1]
    return bytes(np.round(samples).astype("<i2").tobytes())
