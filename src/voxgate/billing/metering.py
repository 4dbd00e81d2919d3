"""Measures what a provider did not report: tokens of text with an OpenAI tokenizer."""

from typing import Protocol

import bpe_openai

ENCODING = "o200k_base"


class _Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


class TokenCounter:
    """Counts o200k_base tokens; the encoding ships inside the bpe-openai package."""

    def __init__(self, encoding_name: str = ENCODING) -> None:
        self._encoding: _Encoding = bpe_openai.get_encoding(encoding_name)

    def count(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text)) if text else 0
