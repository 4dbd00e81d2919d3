"""Limits not covered by test_request_limits.py (headers, a stalled body, upstream size on the
unified endpoint) and test_hostile_input.py (JSON body size, duration in base64): text length,
the multipart upload's size and duration, failover when every provider answers too much, and
one over-long server-sent event line. Each is a clear OpenAI-shape error and holds nothing."""

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from tests.gateway_process import RunningGateway, routed_gateway
from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio
from voxgate.providers.errors import UpstreamError
from voxgate.providers.http import UpstreamHttp

MAX_BODY_BYTES = 300_000
MAX_AUDIO_SECONDS = 20
# The simulator's fixed speech is 48,000 bytes of PCM: every provider's answer is too big.
MAX_UPSTREAM_BYTES = 20_000


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    limits = {
        "VOXGATE_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "VOXGATE_MAX_AUDIO_SECONDS": str(MAX_AUDIO_SECONDS),
        "VOXGATE_MAX_UPSTREAM_RESPONSE_BYTES": str(MAX_UPSTREAM_BYTES),
    }
    with routed_gateway(tmp_path_factory.mktemp("limits"), **limits) as (gateway, _):
        yield gateway


def ledger(gateway: RunningGateway) -> tuple[int, int]:
    """(usage records, balance), asserting nothing is held."""
    with gateway.client() as client:
        usage = client.get("/api/v1/usage", params={"limit": 1000}).json()["data"]
        balance = client.get("/api/v1/balance").json()
    assert balance["held_micro_usd"] == 0
    return len(usage), balance["balance_micro_usd"]


def refusal(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    error: dict[str, object] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["code"] == code, error
    return error


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/audio", {"model": "gpt-4o-mini-tts"}),
        ("/api/v1/audio", {"model": "local-tts"}),
        ("/v1/audio/speech", {"model": "gpt-4o-mini-tts", "voice": "alloy"}),
        ("/v1/audio/speech", {"model": "local-tts", "voice": "alloy"}),
    ],
)
def test_speech_input_over_the_models_length_is_400_naming_input(
    limited: RunningGateway, path: str, body: dict[str, str]
) -> None:
    before = ledger(limited)
    with limited.client() as client:
        response = client.post(path, json=body | {"input": "a" * 4097})
    error = refusal(response, 400, "string_above_max_length")
    assert error["param"] == "input" and "4096" in str(error["message"])
    assert ledger(limited)[1] == before[1]


def test_an_upload_over_the_body_limit_is_413_before_it_is_read(limited: RunningGateway) -> None:
    before = ledger(limited)
    files = {"file": ("a.wav", bytes(MAX_BODY_BYTES + 1))}
    with limited.client() as client:
        response = client.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files)
    refusal(response, 413, "request_too_large")
    assert ledger(limited) == before


def test_a_chunked_upload_over_the_body_limit_is_413_while_it_streams(
    limited: RunningGateway,
) -> None:
    """No Content-Length to refuse up front: the limit is counted as the body arrives."""
    before = ledger(limited)
    boundary = "limitsboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    ).encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(2 * MAX_BODY_BYTES // 65536 + 1):
            yield bytes(65536)
        yield f"\r\n--{boundary}--\r\n".encode()

    with limited.client() as client:
        response = client.post(
            "/v1/audio/transcriptions",
            content=chunks(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
    refusal(response, 413, "request_too_large")
    assert ledger(limited) == before


def test_an_upload_longer_than_the_audio_limit_is_400_audio_too_long(
    limited: RunningGateway,
) -> None:
    # Silence compresses to almost nothing: a small FLAC that decodes to a minute.
    flac = encode(PcmAudio(bytes(2 * 16_000 * 3 * MAX_AUDIO_SECONDS), 16_000), "flac")
    assert len(flac) < MAX_BODY_BYTES
    before = ledger(limited)
    with limited.client() as client:
        response = client.post(
            "/v1/audio/transcriptions",
            data={"model": "local-whisper-tiny-en"},
            files={"file": ("a.flac", flac, "audio/flac")},
        )
    error = refusal(response, 400, "audio_too_long")
    assert f"{MAX_AUDIO_SECONDS} seconds" in str(error["message"]), error
    assert error["param"] == "file" and "'file'" in str(error["message"])  # the form's name
    # Decoding runs inside the request's pipeline, which records the failed request: nothing
    # is charged or held, though.
    assert ledger(limited)[1] == before[1]


def test_answers_over_the_upstream_limit_fail_over_then_fail_clearly(
    limited: RunningGateway,
) -> None:
    """Each of gpt-4o-mini-tts's three routes answers too much: all are tried, none billed."""
    _, balance = ledger(limited)
    speech = {"model": "gpt-4o-mini-tts", "input": "Too much.", "response_format": "pcm16"}
    with limited.client() as client:
        response = client.post("/api/v1/audio", json=speech)
        record = client.get(f"/api/v1/usage/{response.headers['x-request-id']}").json()
    # 503 upstream_unavailable: the gateway core's answer when every route failed (see report).
    assert response.status_code in (502, 503), response.text
    error = response.json()["error"]
    assert f"{MAX_UPSTREAM_BYTES}-byte limit" in error["message"]
    routes = [attempt["route"] for attempt in record["attempts"]]
    assert len(set(routes)) == 3, record["attempts"]  # openai, openai-secondary, gemini
    assert all("limit" in attempt["error"] for attempt in record["attempts"])
    assert record["status"] == "failed" and record["cost_micro_usd"] == 0
    assert ledger(limited)[1] == balance


async def serve_events(line: bytes) -> tuple[web.AppRunner, str]:
    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(line + b"\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/events"


async def read_events(line: bytes, limit: int) -> list[dict[str, object]]:
    runner, url = await serve_events(line)
    upstream = UpstreamHttp(timeout_seconds=10, max_response_bytes=limit)
    try:
        return [event async for event in upstream.post_events("sim", url, headers={}, json={})]
    finally:
        await upstream.aclose()
        await runner.cleanup()


def test_one_long_event_line_is_read_up_to_the_response_limit() -> None:
    """aiohttp's line reader stops at 128 KiB; a second of audio in one event is longer."""
    audio = "A" * 300_000
    line = b'data: {"delta": "' + audio.encode() + b'"}'
    events = asyncio.run(read_events(line, limit=1_000_000))
    assert events == [{"delta": audio}]
    with pytest.raises(UpstreamError, match="limit"):
        asyncio.run(read_events(line, limit=200_000))
