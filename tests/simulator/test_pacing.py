"""The simulator's paced mode: the first chunk after the set delay, then one every interval, on
each streamed answer; by header on one request, or queued for a credential."""

import time
from typing import Any

import httpx
import pytest

from tests.gateway_process import RunningSimulator

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


def arrivals(sim: RunningSimulator, path: str, body: dict[str, Any], **headers: str) -> list[float]:
    """Seconds from sending to each chunk's arrival (a chunk is what the server flushed)."""
    auth = {"authorization": f"Bearer {KEY}", "x-goog-api-key": KEY}
    started = time.monotonic()
    with (
        httpx.Client(base_url=sim.base_url, headers=auth | headers, timeout=30) as client,
        client.stream("POST", path, json=body) as response,
    ):
        assert response.status_code == 200, response.read()
        return [time.monotonic() - started for _ in response.iter_raw()]


@pytest.mark.parametrize(("path", "body"), STREAMS.values(), ids=STREAMS.keys())
def test_a_paced_stream_starts_late_and_keeps_its_rhythm(
    sim: RunningSimulator, path: str, body: dict[str, Any]
) -> None:
    unpaced = arrivals(sim, path, body)
    paced = arrivals(sim, path, body, **{"x-sim-pace": f"{FIRST_MS},{EVERY_MS}"})
    assert len(paced) > 2
    assert paced[0] >= FIRST_MS / 1000 > unpaced[0]
    # Every later chunk waited its interval (less a little for the network's grouping).
    assert paced[-1] - paced[0] >= (len(paced) - 1) * EVERY_MS / 1000 * 0.9
    assert unpaced[-1] < paced[-1]


def test_a_queued_pace_paces_the_next_request_with_that_key(sim: RunningSimulator) -> None:
    pace = {"kind": "paced", "first_chunk_ms": FIRST_MS, "chunk_interval_ms": EVERY_MS}
    sim.queue_faults(KEY, pace)
    path, body = STREAMS["speech-sse"]
    assert arrivals(sim, path, body)[0] >= FIRST_MS / 1000
    assert arrivals(sim, path, body)[0] < FIRST_MS / 1000, "the pace was for one request"
