"""What answers a served session: hearing, answering and speaking, each billed as it is done.

The gateway's local cascade and the simulator each provide one; the conversation around them
(events, items, turns) is the same code.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Heard:
    text: str
    seconds: float


class SessionOver(Exception):
    """The session cannot go on (credit, a limit, its length cap); the message says why."""

    def __init__(self, message: str, code: str, kind: str = "insufficient_quota") -> None:
        super().__init__(message)
        self.message, self.code, self.kind = message, code, kind


class SessionWork(Protocol):
    async def hear(self, pcm: bytes) -> Heard:
        """Transcribe committed 24 kHz PCM16 (charged when done)."""
        ...

    async def answer(self, messages: list[dict[str, Any]], instructions: str) -> str:
        """The assistant's text for the conversation so far (charged when done)."""
        ...

    def speak(self, text: str, voice: str, speed: float) -> AsyncIterator[bytes]:
        """The text spoken as 24 kHz PCM16, a piece at a time (charged when started)."""
        ...

    def usage(self, response_id: str) -> dict[str, Any]:
        """The realtime `usage` object of the response's work, for its `response.done`."""
        ...
