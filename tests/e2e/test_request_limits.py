"""Each configurable limit answered with a clear error that names it, and nothing held or lost."""

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.audio_probe import probe_pcm16
from tests.gateway_process import RunningGateway, routed_gateway

BODY_TIMEOUT_SECONDS = 1
LOOP_CLOCK_SLACK_SECONDS = 0.25
SPEECH = {"model": "gpt-4o-mini-tts", "input": "Limits.", "response_format": "pcm16"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    limits = {
        "VOXGATE_MAX_HEADER_BYTES": "4096",
        "VOXGATE_CLIENT_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS),
        # The simulator's fixed speech is 48,000 bytes of PCM: every provider's answer is too big.
        "VOXGATE_MAX_UPSTREAM_RESPONSE_BYTES": "20000",
    }
    with routed_gateway(tmp_path_factory.mktemp("limited"), **limits) as (gateway, _):
        yield gateway


def usage_and_balance(gateway: RunningGateway) -> tuple[int, int]:
    with gateway.client() as client:
        usage = client.get("/api/v1/usage", params={"limit": 100}).json()["data"]
        balance = client.get("/api/v1/balance").json()
    assert balance["held_micro_usd"] == 0
    return len(usage), balance["balance_micro_usd"]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"]
    error: dict[str, object] = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


def test_oversized_headers_are_431_before_anything_else(limited: RunningGateway) -> None:
    before = usage_and_balance(limited)
    with limited.client() as client:
        response = client.post("/api/v1/audio", json=SPEECH, headers={"x-padding": "p" * 5000})
    error = assert_error(response, 431, "headers_too_large")
    assert "4096 bytes" in str(error["message"])
    assert usage_and_balance(limited) == before


def test_a_body_that_stops_arriving_is_408_and_the_connection_is_freed(
    limited: RunningGateway,
) -> None:
    before = usage_and_balance(limited)
    host, port = limited.base_url.removeprefix("http://").split(":")
    head = (
        "POST /api/v1/audio HTTP/1.1\r\n"
        f"Host: {host}\r\nAuthorization: Bearer {limited.key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as client:
        # Timed from before the first byte: the gateway's clock starts when it reads it.
        started = time.monotonic()
        client.sendall(head.encode() + b'{"model": "gpt-4o-mini-tts", ')  # then nothing more
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = client.recv(65536)
            if not chunk:
                break
            answer += chunk
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer
    # No upper bound: a busy machine may delay the answer; the 408 says which timer fired.
    # The lower bound shows the gateway waited for the body instead of answering at once. It
    # allows for the event loop's clock, which uvloop reads once per loop iteration and in
    # whole milliseconds: a timer armed late in a long iteration fires that much early
    # (measured 0.99997 s for a 1 s timer).
    assert waited >= BODY_TIMEOUT_SECONDS - LOOP_CLOCK_SLACK_SECONDS
    assert usage_and_balance(limited) == before


def test_an_upstream_answer_over_the_limit_fails_the_attempt_and_releases_the_hold(
    limited: RunningGateway,
) -> None:
    _, balance = usage_and_balance(limited)
    with limited.client() as client:
        response = client.post("/api/v1/audio", json=SPEECH)
        assert 500 <= response.status_code < 600, response.text
        request_id = response.headers["x-request-id"]
        error = response.json()["error"]
        record = client.get(f"/api/v1/usage/{request_id}").json()
    assert error["message"] and error["type"]
    attempts = record["attempts"]
    assert attempts and all("limit" in (attempt["error"] or "") for attempt in attempts), attempts
    assert record["status"] == "failed" and record["cost_micro_usd"] == 0
    assert usage_and_balance(limited)[1] == balance


def test_a_streamed_answer_outlives_the_body_timeout(limited: RunningGateway) -> None:
    """The timeout is for a body that stops arriving, not for an answer that takes a while."""
    text = " ".join(
        f"Sentence number {n} of a long answer, spoken one after another." for n in range(12)
    )
    body = {"model": "local-tts", "input": text, "voice": "alloy", "response_format": "pcm"}
    started = time.monotonic()
    with (
        limited.client() as client,
        client.stream("POST", "/v1/audio/speech", json=body) as response,
    ):
        assert response.status_code == 200
        audio = b"".join(response.iter_bytes())
    assert time.monotonic() - started > 2 * BODY_TIMEOUT_SECONDS
    assert probe_pcm16(audio).duration_seconds > 20  # every sentence arrived


@pytest.mark.parametrize(
    ("path", "content_type", "part"),
    [
        ("/v1/chat/completions", "application/json", b'{"model": "gpt-audio", "mess'),
        (
            "/v1/audio/transcriptions",
            "multipart/form-data; boundary=xx",
            b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRI',
        ),
    ],
)
def test_a_client_leaving_mid_body_logs_one_line(
    limited: RunningGateway, path: str, content_type: str, part: bytes
) -> None:
    host, port = limited.base_url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {limited.key}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: 100000\r\n\r\n"
    )
    log_before = log_end(limited)
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(head.encode() + part)
    wait_for_log(limited, log_before, "status=499")
    # A request after it: its access line comes after anything the one that left wrote.
    with limited.client() as client:
        assert client.get("/healthz", params={"after": "left"}).status_code == 200
    written = wait_for_log(limited, log_before, "path=/healthz")
    assert "Traceback" not in written and " ERROR " not in written, written
    assert written.count("status=499") == 1, written


def log_end(gateway: RunningGateway) -> int:
    """Where the log's whole lines end now: a later read from here starts at a line's start."""
    written = gateway.output.read_bytes()
    return written.rfind(b"\n") + 1


def wait_for_log(gateway: RunningGateway, offset: int, text: str) -> str:
    """The whole lines written since `offset`, once one of them contains `text` (a line, or a
    character, still being written is left out, and read once it is whole)."""
    deadline = time.monotonic() + 20
    while True:
        written = gateway.output.read_bytes()[offset:]
        whole = written[: written.rfind(b"\n") + 1].decode()
        if text in whole:
            return whole
        assert time.monotonic() < deadline, whole
        time.sleep(0.05)
