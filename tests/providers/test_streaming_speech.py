"""Streamed speech on every provider that can: each adapter against the fast simulator (paced,
so audio that arrives before the upstream has finished shows it is passed on as it comes), and
against upstreams whose 200 is not what the protocol promises, which must be a retriable
failure before any audio, never an empty stream."""

import asyncio
import base64
import io
import time
import wave
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from tests.gateway_process import RunningSimulator
from tests.simulator.process import fast_simulator
from voxgate.audio.pcm import PcmAudio
from voxgate.providers import azure_openai, gemini, openai, openai_compatible
from voxgate.providers.errors import UpstreamError
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.openai_style import speech
from voxgate.providers.protocols import SpeechRequest, StreamingSpeechProvider, Upstream

FIRST_MS = 300
# The simulator's event loop reads its clock once an iteration, in whole milliseconds, so its
# timer can fire a little before FIRST_MS by this process's clock. The bound only has to show
# that the first audio waited for the upstream's first chunk.
LOOP_CLOCK_SLACK_SECONDS = 0.05
# Longer than the test waits for the first audio, which is shorter than the upstream timeout.
HELD_BACK_MS, WAIT_SECONDS = 120_000, 15
KEY = "stream-key"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    with fast_simulator(tmp_path_factory.mktemp("sim")) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[UpstreamHttp]:
    client = UpstreamHttp(timeout_seconds=20, max_response_bytes=10_000_000)
    yield client
    await client.aclose()


@dataclass(frozen=True)
class Case:
    name: str
    provider: Any
    upstream: Upstream
    voice: str
    path: str
    wire: dict[str, Any]


def cases(http: UpstreamHttp, base: str) -> list[Case]:
    key = SecretStr(KEY)
    return [
        Case(
            "openai",
            openai.openai_provider(http),
            Upstream(model="gpt-4o-mini-tts", base_url=f"{base}/v1", credential=key),
            "coral",
            "/v1/audio/speech",
            {"response_format": "pcm", "stream_format": "sse"},
        ),
        Case(
            "azure-openai",
            azure_openai.azure_openai_provider(http),
            Upstream(model="tts", base_url=base, credential=key, api_version="2025-04-01-preview"),
            "coral",
            "/openai/deployments/tts/audio/speech",
            {"response_format": "pcm", "stream_format": "sse"},
        ),
        Case(
            "openai-compatible",
            openai_compatible.openai_compatible_provider(http),
            Upstream(model="kokoro", base_url=f"{base}/v1", credential=key),
            "alloy",
            "/v1/audio/speech",
            {"response_format": "wav"},
        ),
        Case(
            "gemini",
            gemini.GeminiProvider(http),
            Upstream(model="gemini-2.5-flash-preview-tts", base_url=base, credential=key),
            "Kore",
            "/v1beta/models/gemini-2.5-flash-preview-tts:streamGenerateContent",
            {},
        ),
    ]


NAMES = ["openai", "azure-openai", "openai-compatible", "gemini"]


@pytest.mark.parametrize("name", NAMES)
async def test_speech_streams_as_the_upstream_sends_it(
    sim: RunningSimulator, http: UpstreamHttp, name: str
) -> None:
    [case] = [c for c in cases(http, sim.base_url) if c.name == name]
    assert isinstance(case.provider, StreamingSpeechProvider)
    sim.reset()
    request = SpeechRequest(text="One two three.", voice=case.voice)
    # The whole answer, in however many reads the socket made of it (that is not the
    # provider's to say: the held-back answer below shows it passes audio on as it comes).
    pieces = [pcm async for pcm in case.provider.stream_speech(request, case.upstream)]
    assert pieces
    assert {pcm.sample_rate for pcm in pieces} == {24_000}
    seconds = sum(pcm.duration_seconds for pcm in pieces)
    assert seconds == pytest.approx(1.0, abs=0.05)  # the simulator's one-second tone
    [call] = sim.requests()
    assert call["path"] == case.path
    assert case.wire.items() <= (call["body"] or {}).items()
    # The upstream sends its first chunk, then holds the rest back longer than the test waits:
    # audio that arrives at all came while the upstream was still sending. Judged by that
    # order, not by gaps between arrivals, which a loaded machine merges into one read.
    sim.queue_faults(
        KEY, {"kind": "paced", "first_chunk_ms": FIRST_MS, "chunk_interval_ms": HELD_BACK_MS}
    )
    started = time.monotonic()
    stream = case.provider.stream_speech(request, case.upstream)
    assert isinstance(stream, AsyncGenerator)
    async with aclosing(stream):
        first = await asyncio.wait_for(first_audio(stream), WAIT_SECONDS)
    assert time.monotonic() - started >= FIRST_MS / 1000 - LOOP_CLOCK_SLACK_SECONDS
    assert first.sample_rate == 24_000


async def first_audio(stream: AsyncIterator[PcmAudio]) -> PcmAudio:
    async for pcm in stream:
        if pcm.samples:
            return pcm
    raise AssertionError("the stream ended without audio")


def test_a_wav_is_read_at_its_own_rate_however_it_is_cut() -> None:
    samples = bytes(range(256)) * 64
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(22_050)
        wav.writeframes(samples)
    output = openai_compatible.DECLARATION.speech_output
    assert output is not None
    decoder = speech.SpeechDecoder("openai-compatible", output)
    data = out.getvalue()
    pieces = [decoder.feed(data[i : i + 7]) for i in range(0, len(data), 7)]
    decoded = [pcm for pcm in pieces if pcm is not None]
    assert b"".join(pcm.samples for pcm in decoded) == samples
    assert {pcm.sample_rate for pcm in decoded} == {22_050}


# Upstreams that answer 200 with the wrong thing.
def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(event) + b"\n\n" for event in events)


DELTA = {"type": "speech.audio.delta", "audio": base64.b64encode(b"\x01\x00" * 100).decode()}
WRONG_SHAPES: dict[str, tuple[bytes, str]] = {
    "raw audio where SSE was asked": (b"ID3" + b"\x00" * 500, "audio/mpeg"),
    "an empty event stream": (b"", "text/event-stream"),
    "events without audio": (_sse({"type": "speech.audio.done", "usage": {}}), "text/event-stream"),
    "JSON without audio": (b'{"ok": true}', "application/json"),
    "a delta that is not base64": (
        _sse({"type": "speech.audio.delta", "audio": "@@"}),
        "text/event-stream",
    ),
    "a WAV that is not one": (b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 100, "audio/wav"),
    "Gemini events without audio": (
        _sse({"candidates": [{"finishReason": "STOP"}]}),
        "text/event-stream",
    ),
    "Gemini JSON, not events": (b'[{"candidates": []}]', "application/json"),
}


@asynccontextmanager
async def answering(body: bytes, content_type: str) -> AsyncIterator[str]:
    """The base URL of a local upstream that answers every POST with `body`."""

    async def answer(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


def openai_says_hi(http: UpstreamHttp, base_url: str) -> AsyncIterator[PcmAudio]:
    """The OpenAI provider's speech stream of "Hi." from the upstream at `base_url`."""
    [case] = [c for c in cases(http, base_url) if c.name == "openai"]
    return case.provider.stream_speech(SpeechRequest(text="Hi.", voice="coral"), case.upstream)


@pytest.fixture
async def wrong(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    async with answering(*WRONG_SHAPES[request.param]) as base_url:
        yield base_url


@pytest.mark.parametrize("wrong", list(WRONG_SHAPES), indirect=True)
@pytest.mark.parametrize("name", NAMES)
async def test_a_200_of_the_wrong_shape_is_a_retriable_error_before_any_audio(
    wrong: str, http: UpstreamHttp, name: str
) -> None:
    [case] = [c for c in cases(http, wrong) if c.name == name]
    request = SpeechRequest(text="Hello.", voice=case.voice)
    stream = case.provider.stream_speech(request, case.upstream)
    with pytest.raises(UpstreamError) as raised:
        await anext(stream)
    assert raised.value.retriable


async def test_an_sse_stream_cut_before_its_done_event_is_an_error_after_the_audio(
    http: UpstreamHttp,
) -> None:
    async with answering(_sse(DELTA), "text/event-stream") as base_url:
        stream = openai_says_hi(http, base_url)
        assert (await anext(stream)).samples
        with pytest.raises(UpstreamError, match=r"before speech\.audio\.done"):
            await anext(stream)


async def test_a_stream_may_outlast_the_timeout_while_each_wait_is_within_it(
    sim: RunningSimulator,
) -> None:
    """The upstream timeout bounds each wait of a stream, not the whole stream."""
    http = UpstreamHttp(timeout_seconds=1, max_response_bytes=10_000_000)
    try:
        [case] = [c for c in cases(http, sim.base_url) if c.name == "openai"]
        sim.reset()
        sim.queue_faults(KEY, {"kind": "paced", "first_chunk_ms": 400, "chunk_interval_ms": 400})
        started = time.monotonic()
        pieces = [
            pcm
            async for pcm in case.provider.stream_speech(
                SpeechRequest(text="A long answer.", voice="coral"), case.upstream
            )
        ]
        assert time.monotonic() - started > 1.5
        assert sum(pcm.duration_seconds for pcm in pieces) == pytest.approx(1.0, abs=0.05)
    finally:
        await http.aclose()


async def test_deltas_that_arrive_together_leave_as_one_chunk(http: UpstreamHttp) -> None:
    """A gateway behind its provider catches up in one chunk to encode and send, not one per
    event; the audio is all there, in order, and the stream still ends at its done event."""
    deltas = [
        {"type": "speech.audio.delta", "audio": base64.b64encode(bytes([n, 0]) * 50).decode()}
        for n in range(3)
    ]
    done = {"type": "speech.audio.done", "usage": {}}

    async with answering(_sse(*deltas, done), "text/event-stream") as base_url:
        chunks = [pcm.samples async for pcm in openai_says_hi(http, base_url)]
    assert chunks == [b"".join(bytes([n, 0]) * 50 for n in range(3))]
