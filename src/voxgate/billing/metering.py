"""Measures what a provider did not report: tokens of text with an OpenAI tokenizer."""

import asyncio
import gc
import threading
from typing import Protocol

from voxgate.errors import InvalidRequestError

ENCODING = "o200k_base"
# The tokenizer refuses a text of a million characters or one that makes 200,000 tokens (a
# ValueError that reached clients as a 500): a longer text is counted in pieces, each under
# both limits (a token is at least one character).
PIECE_CHARACTERS = 100_000
# How far back from a piece's end a clean place to cut is looked for.
CUT_SEARCH_CHARACTERS = 1_000
# Counting takes about 30 ms of CPU a million characters, on the event loop and before any
# hold: a text is counted up to this length (fifteen characters a token of the largest context
# window in the catalog, 128,000 tokens; no model takes more), and refused past it.
MAX_COUNTED_CHARACTERS = 2_000_000


# How far a provider's reported audio tokens may stray from the audio the gateway measured
# (either way) before the charge is flagged `usage_mismatch`.
USAGE_MISMATCH_RATIO = 2.0


def usage_disagrees(
    reported_tokens: int, measured_seconds: float, tokens_per_second: float
) -> bool:
    """Whether a provider's audio tokens and the audio it sent tell different stories."""
    expected = measured_seconds * tokens_per_second
    if expected < 1 and reported_tokens < tokens_per_second:
        return False  # a fraction of a second: nothing to compare
    return (
        reported_tokens > USAGE_MISMATCH_RATIO * expected
        or reported_tokens * USAGE_MISMATCH_RATIO < expected
    )


class _Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


class TokenCounter:
    """Counts o200k_base tokens; the encoding ships inside the bpe-openai package.

    The encoding takes ~60 MB and half a second to load: the gateway loads it at start-up, on a
    worker thread (`ready`), so that no request waits for it and the event loop never stalls.
    """

    def __init__(self, encoding_name: str = ENCODING) -> None:
        self._encoding_name = encoding_name
        self._encoding: _Encoding | None = None
        self._loading = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._encoding is not None

    async def ready(self) -> None:
        if self._encoding is None:
            await asyncio.to_thread(self._load)

    def count(self, text: str) -> int:
        """Tokens in `text`; a text past MAX_COUNTED_CHARACTERS is the client's error."""
        if len(text) > MAX_COUNTED_CHARACTERS:
            raise InvalidRequestError(
                f"The request's text is {len(text):,} characters long; this gateway takes at "
                f"most {MAX_COUNTED_CHARACTERS:,} characters of text in one request, more "
                "than any model's context window holds.",
                code="text_too_long",
            )
        encoding = self._load()
        return sum(len(encoding.encode_ordinary(piece)) for piece in _pieces(text))

    def _load(self) -> _Encoding:
        with self._loading:
            if self._encoding is None:
                import bpe_openai

                self._encoding = bpe_openai.get_encoding(self._encoding_name)
                # It lives as long as the process: keep the collector from walking it.
                gc.freeze()
        return self._encoding


def _pieces(text: str) -> list[str]:
    """`text` cut into pieces the tokenizer takes, where cutting changes no count: before a
    single space that follows a non-space and precedes one (the tokenizer starts a word there,
    the space its first character). A text with no such place near a piece's end (a run of one
    letter, or a script written without spaces) is cut at the piece's end, which may count a
    token or two more or fewer in 100,000 characters."""
    pieces = []
    start = 0
    while len(text) - start > PIECE_CHARACTERS:
        end = _cut(text, start + PIECE_CHARACTERS)
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return [piece for piece in pieces if piece]


def _cut(text: str, end: int) -> int:
    """`end` is below len(text) - 1 (the caller leaves more than a piece)."""
    for at in range(end, end - CUT_SEARCH_CHARACTERS, -1):
        if text[at] == " " and not text[at - 1].isspace() and not text[at + 1].isspace():
            return at
    return end
