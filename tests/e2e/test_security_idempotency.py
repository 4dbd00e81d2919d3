"""Idempotency-Key on the OpenAI-compatible endpoints: a retried request is charged once."""

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.gateway_process import RunningGateway, routed_gateway
from voxgate.api.idempotency import MAX_STORED_ANSWER_BYTES

SPEECH = {"model": "gpt-4o-mini-tts", "input": "Charge me once.", "voice": "alloy"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with routed_gateway(Path(tmp_path_factory.mktemp("idempotency"))) as (running, _):
        yield running


@pytest.fixture
def key(gateway: RunningGateway) -> str:
    return gateway.new_workspace(f"idem-{secrets.token_hex(4)}", "5.00")


def balance(gateway: RunningGateway, key: str) -> int:
    with gateway.client(key) as client:
        value: int = client.get("/api/v1/balance").json()["balance_micro_usd"]
        return value


def usage_ids(gateway: RunningGateway, key: str) -> set[str]:
    with gateway.client(key) as client:
        records: list[dict[str, Any]] = client.get("/api/v1/usage").json()["data"]
    return {record["request_id"] for record in records}


def speak(gateway: RunningGateway, key: str, idempotency_key: str, **body: Any) -> httpx.Response:
    with gateway.client(key) as client:
        return client.post(
            "/v1/audio/speech",
            json={**SPEECH, **body},
            headers={"Idempotency-Key": idempotency_key},
        )


def test_speech_retried_with_the_same_key_is_charged_once(
    gateway: RunningGateway, key: str
) -> None:
    start = balance(gateway, key)
    first = speak(gateway, key, "speech-1")
    assert first.status_code == 200, first.text
    charged = start - balance(gateway, key)
    assert charged > 0
    again = speak(gateway, key, "speech-1")
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert start - balance(gateway, key) == charged
    assert usage_ids(gateway, key) == {first.headers["x-request-id"]}


def test_the_same_key_with_another_body_is_refused(gateway: RunningGateway, key: str) -> None:
    assert speak(gateway, key, "speech-2").status_code == 200
    before = balance(gateway, key)
    other = speak(gateway, key, "speech-2", input="Another text.")
    assert other.status_code == 400
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert other.json()["error"]["param"] == "Idempotency-Key"
    assert balance(gateway, key) == before


def test_the_same_key_on_another_endpoint_is_another_request(
    gateway: RunningGateway, key: str
) -> None:
    assert speak(gateway, key, "shared").status_code == 200
    with gateway.client(key) as client:
        chat = client.post(
            "/v1/chat/completions",
            json={"model": "gpt-audio", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Idempotency-Key": "shared"},
        )
    assert chat.status_code == 400
    assert chat.json()["error"]["code"] == "idempotency_key_reused"


def test_a_streamed_answer_is_not_run_again_and_names_the_original(
    gateway: RunningGateway, key: str
) -> None:
    start = balance(gateway, key)
    first = speak(gateway, key, "stream-1", stream_format="sse")
    assert first.status_code == 200, first.text
    assert "speech.audio.done" in first.text
    charged = start - balance(gateway, key)
    again = speak(gateway, key, "stream-1", stream_format="sse")
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "idempotency_key_completed"
    assert first.headers["x-request-id"] in error["message"]
    assert start - balance(gateway, key) == charged
    assert usage_ids(gateway, key) == {first.headers["x-request-id"]}


def test_a_refused_request_leaves_the_key_free(gateway: RunningGateway, key: str) -> None:
    refused = speak(gateway, key, "retry-after-fix", voice="no-such-voice")
    assert refused.status_code == 400
    fixed = speak(gateway, key, "retry-after-fix", voice="alloy")
    assert fixed.status_code == 200, fixed.text


def test_transcriptions_take_the_key_too(gateway: RunningGateway, key: str) -> None:
    audio = speak(gateway, key, "audio-for-stt", response_format="wav").content
    start = balance(gateway, key)

    def transcribe() -> httpx.Response:
        with gateway.client(key) as client:
            return client.post(
                "/v1/audio/transcriptions",
                data={"model": "whisper-1"},
                files={"file": ("speech.wav", audio, "audio/wav")},
                headers={"Idempotency-Key": "stt-1"},
            )

    first, again = transcribe(), transcribe()
    assert first.status_code == again.status_code == 200, first.text
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert start - balance(gateway, key) > 0
    assert len(usage_ids(gateway, key) - {first.headers["x-request-id"]}) == 1  # the speech


def test_an_answer_too_large_to_keep_is_not_run_again(gateway: RunningGateway, key: str) -> None:
    """About a minute of WAV is over the 2 MiB kept: the retry hears that the original ran."""
    text = "The gateway keeps small answers for retries and names the large ones. " * 14
    start = balance(gateway, key)
    first = speak(gateway, key, "large-1", model="local-tts", input=text, response_format="wav")
    assert first.status_code == 200, first.text
    assert len(first.content) > MAX_STORED_ANSWER_BYTES
    charged = start - balance(gateway, key)
    again = speak(gateway, key, "large-1", model="local-tts", input=text, response_format="wav")
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "idempotency_key_completed"
    assert first.headers["x-request-id"] in error["message"]
    assert start - balance(gateway, key) == charged
    assert usage_ids(gateway, key) == {first.headers["x-request-id"]}


def test_a_stranger_is_refused_before_the_body_is_read(gateway: RunningGateway) -> None:
    """With an invalid key, the 401 comes while the declared 40 MB body has not arrived: the
    gateway never buffers a stranger's body (20 such connections once added 412 MB)."""
    url = urlsplit(gateway.base_url)
    assert url.hostname and url.port
    head = (
        "POST /v1/audio/speech HTTP/1.1\r\n"
        f"Host: {url.hostname}\r\nAuthorization: Bearer vg_live_not-a-real-key\r\n"
        "Idempotency-Key: stranger-1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {40 * 1024 * 1024 - 1}\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as client:
        client.sendall(head.encode() + b'{"model": "gpt-4o-mini-tts", "input": "')
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = client.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
