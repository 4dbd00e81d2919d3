"""Measures what a provider did not report: tokens of text with an OpenAI tokenizer."""

import asyncio
import gc
import threading
from typing import Protocol

ENCODING = "o200k_base"


class _Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


class TokenCounter:
    """Counts o200k_base tokens; the encoding ships inside the bpe-openai package.

    The encoding takes ~60 MB and half a second to load, so it loads when a request first
    needs it, on a worker thread (`ready`), never stalling the event loop for everyone else.
    """

    def __init__(self, encoding_name: str = ENCODING) -> None:
        self._encoding_name = encoding_name
        self._encoding: _Encoding | None = None
        self._loading = threading.Lock()

    async def ready(self) -> None:
        if self._encoding is None:
            await asyncio.to_thread(self._load)

    def count(self, text: str) -> int:
        return len(self._load().encode_ordinary(text)) if text else 0

    def _load(self) -> _Encoding:
        with self._loading:
            if self._encoding is None:
                import bpe_openai

                self._encoding = bpe_openai.get_encoding(self._encoding_name)
                # It lives as long as the process: keep the collector from walking it.
                gc.freeze()
        return self._encoding
