"""The simulator's paced mode: the first chunk after the set delay, then one every interval, on
each streamed answer; by header on one request, or queued for a credential.

A loaded machine can only delay what arrives, and may merge chunks into one read: so the
rhythm is judged by the sender's own schedule (`paced` in process) and, over the network, by
lower bounds on the time from sending to the last byte, never by gaps between arrivals."""

import asyncio
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.gateway_process import RunningSimulator
from voxgate.simulator.openai import SSE_PIECE_BYTES
from voxgate.simulator.pacing import Pace, paced

KEY = "pace-key"
FIRST_MS, EVERY_MS = 300, 60
SPEECH = {"model": "gpt-4o-mini-tts", "input": "Paced words.", "voice": "alloy"}
CHAT = {
    "model": "gpt-audio",
    "messages": [{"role": "user", "content": "Hi."}],
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "pcm16"},
    "stream": True,
}
GEMINI = {
    "contents": [{"parts": [{"text": "Paced words."}]}],
    "generationConfig": {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
    },
}
STREAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "speech-chunked": ("/v1/audio/speech", {**SPEECH, "response_format": "pcm"}),
    "speech-sse": (
        "/v1/audio/speech",
        {**SPEECH, "response_format": "pcm", "stream_format": "sse"},
    ),
    "chat-audio": ("/v1/chat/completions", CHAT),
    "gemini": ("/v1beta/models/gemini-2.5-flash-preview-tts:streamGenerateContent?alt=sse", GEMINI),
}


# A queued pace long enough that an unpaced answer, even on a loaded machine, comes well within it.
QUEUED_FIRST_MS = 3000


@dataclass(frozen=True)
class Received:
    body: bytes
    first_seconds: float
    """From sending to the first byte."""
    last_seconds: float
    """From sending to the last byte."""

    @property
    def chunks_sent(self) -> int:
        """How many chunks the simulator sent: its events, or its fixed-size audio pieces."""
        if self.body.startswith(b"data:"):
            return self.body.count(b"data:")
        return math.ceil(len(self.body) / SSE_PIECE_BYTES)


def receive(sim: RunningSimulator, path: str, body: dict[str, Any], **headers: str) -> Received:
    auth = {"authorization": f"Bearer {KEY}", "x-goog-api-key": KEY}
    started = time.monotonic()
    with (
        httpx.Client(base_url=sim.base_url, headers=auth | headers, timeout=30) as client,
        client.stream("POST", path, json=body) as response,
    ):
        assert response.status_code == 200, response.read()
        pieces, first = [], 0.0
        for piece in response.iter_raw():
            first = first or time.monotonic() - started
            pieces.append(piece)
        return Received(b"".join(pieces), first, time.monotonic() - started)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The delays `paced` asks for, in order, without waiting them (only `paced` runs while
    asyncio.sleep is replaced)."""
    asked: list[float] = []

    async def sleep(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    yield asked


async def test_a_pace_waits_its_delay_before_each_chunk_in_order(sleeps: list[float]) -> None:
    sent = []
    async for chunk in paced([b"a", b"b", b"c"], Pace(FIRST_MS, EVERY_MS)):
        sent.append((chunk, list(sleeps)))
    assert sent == [
        (b"a", [0.3]),
        (b"b", [0.3, 0.06]),
        (b"c", [0.3, 0.06, 0.06]),
    ]


async def test_without_a_pace_nothing_waits(sleeps: list[float]) -> None:
    assert [chunk async for chunk in paced([b"a", b"b"], None)] == [b"a", b"b"]
    assert sleeps == []


@pytest.mark.parametrize(("path", "body"), STREAMS.values(), ids=STREAMS.keys())
def test_a_paced_stream_starts_late_and_keeps_its_rhythm(
    sim: RunningSimulator, path: str, body: dict[str, Any]
) -> None:
    unpaced = receive(sim, path, body)
    paced = receive(sim, path, body, **{"x-sim-pace": f"{FIRST_MS},{EVERY_MS}"})
    assert paced.chunks_sent == unpaced.chunks_sent > 2
    assert paced.first_seconds >= FIRST_MS / 1000
    # The last byte could leave only after the first delay and every later interval.
    schedule_ms = FIRST_MS + (paced.chunks_sent - 1) * EVERY_MS
    assert paced.last_seconds >= schedule_ms / 1000


def test_a_queued_pace_paces_the_next_request_with_that_key(sim: RunningSimulator) -> None:
    pace = {"kind": "paced", "first_chunk_ms": QUEUED_FIRST_MS, "chunk_interval_ms": EVERY_MS}
    sim.queue_faults(KEY, pace)
    path, body = STREAMS["speech-sse"]
    assert receive(sim, path, body).first_seconds >= QUEUED_FIRST_MS / 1000
    after = receive(sim, path, body).first_seconds
    assert after < QUEUED_FIRST_MS / 1000, "the pace was for one request"
