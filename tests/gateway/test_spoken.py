"""Text cut into pieces that each fit one answer, and their speech joined without a click."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cpu_budget import cpu_seconds_at_most
from voxgate.audio.pcm import PcmAudio
from voxgate.gateway.spoken import SEAM_SECONDS, joined, pieces, spoken_length

RATE = 24_000


@settings(deadline=None)
@given(st.text(min_size=1, max_size=400), st.integers(min_value=40, max_value=200))
def test_pieces_are_the_text_again_and_each_fits(text: str, letters: int) -> None:
    said = pieces(text, lambda piece: spoken_length(piece) <= letters)
    assert "".join(said) == text
    # A single character may be longer than the bound; it is a piece of its own.
    assert all(spoken_length(piece) <= letters or len(piece) == 1 for piece in said)


def test_pieces_end_at_sentences_where_they_can() -> None:
    text = "One two three. " * 40
    said = pieces(text, lambda piece: len(piece) <= 100)
    assert len(said) > 1
    assert all(piece == "One two three. " * 6 for piece in said[:-1])


def test_a_sentence_longer_than_a_piece_is_cut_between_words() -> None:
    text = "word " * 100
    said = pieces(text, lambda piece: len(piece) <= 42)
    assert all(piece.endswith(" ") and len(piece) <= 42 for piece in said)


def test_a_long_text_without_a_space_is_cut_in_a_few_looks_a_piece() -> None:
    looks: list[int] = []

    def fits(piece: str) -> bool:
        looks.append(len(piece))
        return spoken_length(piece) <= 5_000

    with cpu_seconds_at_most(2.0):
        said = pieces("x" * 32_000, fits)
    assert [len(piece) for piece in said] == [5_000] * 6 + [2_000]
    assert len(looks) < 7 * 20


def loud(seconds: float, level: int) -> PcmAudio:
    """A constant level: a seam between two of them, unfaded, is a step of `2 * level`."""
    return PcmAudio(np.full(int(RATE * seconds), level, dtype="<i2").tobytes(), RATE)


def test_seams_fade_out_and_in_so_no_step_is_heard() -> None:
    audio = joined([loud(0.5, 20_000), loud(0.5, -20_000), loud(0.5, 20_000)])
    samples = np.frombuffer(audio.samples, dtype="<i2").astype(np.int32)
    assert samples.size == 3 * RATE // 2
    ramp = int(RATE * SEAM_SECONDS)
    # The largest step between neighbouring samples is one step of a 10 ms ramp.
    assert np.abs(np.diff(samples)).max() <= 20_000 / (ramp - 1) + 1
    # Away from the seams, the pieces are as they were.
    assert samples[RATE // 4] == 20_000 and samples[RATE // 2 + RATE // 4] == -20_000


def test_one_piece_is_left_as_it_is() -> None:
    piece = loud(0.2, 1000)
    assert joined([piece]) == piece


def test_scripts_read_slower_are_held_longer() -> None:
    assert spoken_length("ሰላም") > spoken_length("你好世") > spoken_length("при") > 3
    assert spoken_length("MMXXIV") > spoken_length("mmxxiv")
