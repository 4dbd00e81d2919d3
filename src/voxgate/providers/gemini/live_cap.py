"""A response's output cap on Gemini Live, enforced by the translation.

Gemini Live takes no per-response output limit, so the `max_output_tokens` the gateway puts on
`response.create` (what the response's hold covers) is kept here: the output is counted as
Gemini bills it as it arrives, audio at 32 tokens a second (Google's rate for audio in and
out) and text at about 4 characters a token, and what would pass the cap is not forwarded.
The chunk that reaches it is cut at the token boundary.
"""

import math
from dataclasses import dataclass
from typing import Any

# Gemini counts a second of audio as 32 tokens; its output is 24 kHz PCM16 (48,000 bytes a
# second), so a token is 1,500 bytes.
AUDIO_TOKENS_PER_SECOND = 32
OUTPUT_BYTES_PER_SECOND = 24_000 * 2
BYTES_PER_AUDIO_TOKEN = OUTPUT_BYTES_PER_SECOND // AUDIO_TOKENS_PER_SECOND
# Gemini's rule of thumb for text: a token is about 4 characters.
CHARACTERS_PER_TOKEN = 4


@dataclass
class OutputCap:
    """What a response may still forward, and what it forwarded (as Gemini bills it)."""

    tokens: int | None = None
    audio_bytes: int = 0
    text_characters: int = 0
    # Output came past the cap and was not forwarded (nor is its transcript).
    spilled: bool = False

    @property
    def forwarded_audio_tokens(self) -> int:
        return math.ceil(self.audio_bytes / BYTES_PER_AUDIO_TOKEN)

    @property
    def forwarded_text_tokens(self) -> int:
        return math.ceil(self.text_characters / CHARACTERS_PER_TOKEN)

    @property
    def reached(self) -> bool:
        """No more output fits (nor the rest of a token already counted)."""
        if self.tokens is None:
            return False
        left = self._left()
        return not _fits(left, self.audio_bytes, BYTES_PER_AUDIO_TOKEN) and not _fits(
            left, self.text_characters, CHARACTERS_PER_TOKEN
        )

    def audio(self, pcm: bytes) -> bytes:
        """The part of `pcm` (24 kHz PCM16) that fits, counted as forwarded."""
        if self.tokens is not None:
            fits = _fits(self._left(), self.audio_bytes, BYTES_PER_AUDIO_TOKEN)
            pcm = pcm[: fits // 2 * 2]
        self.audio_bytes += len(pcm)
        return pcm

    def text(self, text: str) -> str:
        """The part of `text` that fits, counted as forwarded."""
        if self.tokens is not None:
            text = text[: _fits(self._left(), self.text_characters, CHARACTERS_PER_TOKEN)]
        self.text_characters += len(text)
        return text

    def _left(self) -> int:
        assert self.tokens is not None
        return self.tokens - self.forwarded_audio_tokens - self.forwarded_text_tokens


def _fits(tokens_left: int, counted: int, per_token: int) -> int:
    """How many more units fit: the tokens left, and the rest of a token already counted."""
    started = counted % per_token
    return max(0, tokens_left * per_token + (per_token - started if started else 0))


def output_cap(response: dict[str, Any]) -> int | None:
    """The output cap a response.create names (GA or beta); None for none ('inf')."""
    for name in ("max_output_tokens", "max_response_output_tokens"):
        cap = response.get(name)
        if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0:
            return cap
    return None
