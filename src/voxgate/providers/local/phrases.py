"""Piper's input in bounded pieces: its attention grows with the square of one piece's length."""

from collections.abc import Iterable, Iterator

# Measured on the joe voice: one piece's peak memory grows with its length, about 130 MB at 100
# phonemes, 280 MB at 200 and 460 MB at 400; 2,400 characters of one unpunctuated sentence
# took 3.4 GB. 120 phonemes is some fifteen words, a breath's length, so most sentences stay
# whole and a cut falls where a reader would pause.
MAX_PHRASE_PHONEMES = 120
WORD_BREAK = " "
# A cut after these (then a word break) sounds like the pause it is.
CLAUSE_MARKS = frozenset(",;:")


def bounded_phrases(
    sentences: Iterable[list[str]], limit: int = MAX_PHRASE_PHONEMES
) -> Iterator[list[str]]:
    """Each sentence's phonemes, cut at the last word break that keeps a piece within `limit`
    (or at `limit` itself inside a word longer than that); empty pieces are left out."""
    for phonemes in sentences:
        rest = phonemes
        while len(rest) > limit:
            window = rest[:limit]
            cut = _last_break(window) or limit
            yield rest[:cut]
            rest = _without_leading_breaks(rest[cut:])
        if any(phoneme != WORD_BREAK for phoneme in rest):
            yield rest


def first_clause_apart(phrases: Iterable[list[str]]) -> Iterator[list[str]]:
    """The phrases with the first one's opening clause ("Sure,", "You asked:") made a phrase
    of its own: streamed speech then starts once that clause is spoken, a third of the wait
    for a fifteen-word phrase, and the cut falls on the pause its mark makes anyway."""
    pieces = iter(phrases)
    first = next(pieces, None)
    if first is None:
        return
    cut = next(
        (
            index
            for index in range(1, len(first))
            if first[index] == WORD_BREAK and first[index - 1] in CLAUSE_MARKS
        ),
        None,
    )
    rest = _without_leading_breaks(first[cut:]) if cut is not None else []
    if cut is None or not any(phoneme != WORD_BREAK for phoneme in rest):
        yield first
    else:
        yield first[:cut]
        yield rest
    yield from pieces


def _last_break(window: list[str]) -> int:
    """The last clause break in the window's second half, else its last word break."""
    breaks = [index for index in range(1, len(window)) if window[index] == WORD_BREAK]
    clauses = [index for index in breaks if window[index - 1] in CLAUSE_MARKS]
    if clauses and clauses[-1] >= len(window) // 2:
        return clauses[-1]
    return breaks[-1] if breaks else 0


def _without_leading_breaks(phonemes: list[str]) -> list[str]:
    start = 0
    while start < len(phonemes) and phonemes[start] == WORD_BREAK:
        start += 1
    return phonemes[start:]
