"""Hostile input: each answered with a clear 4xx in the OpenAI shape, never a 500, nothing held."""

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway_process import RunningGateway, start_gateway, stop_gateway
from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """A gateway with small limits, so that the limits themselves are exercised quickly."""
    env = {"VOXGATE_MAX_BODY_BYTES": "2000000", "VOXGATE_MAX_AUDIO_SECONDS": "60"}
    process, gateway = start_gateway(tmp_path_factory.mktemp("strict"), env)
    yield gateway
    stop_gateway(process)


def silent_flac(seconds: int) -> bytes:
    """Silence compresses to almost nothing: a tiny file that decodes to a long recording."""
    return encode(PcmAudio(bytes(2 * 16_000 * seconds), 16_000), "flac")


def post_raw(
    gateway: RunningGateway, content: bytes, content_type: str = "application/json"
) -> httpx.Response:
    with gateway.client() as client:
        return client.post("/api/v1/audio", content=content, headers={"content-type": content_type})


def assert_clean_4xx(response: httpx.Response, status: int | None = None) -> None:
    assert 400 <= response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 5000 + b"]" * 5000,  # deep nesting
        b'{"model": "local-tts", "input": "\xff\xfe invalid utf-8"}',
        b"\x00\x01\x02 binary garbage",
        b'{"model": "local-tts", "input": "hi"' + b" " * 1000,  # truncated
        b"",
        b"null",
        b'"just a string"',
        b'{"model": {"$gt": ""}, "input": "hi"}',
    ],
    ids=[
        "deep-nesting",
        "invalid-utf8",
        "binary",
        "truncated",
        "empty",
        "null",
        "string",
        "object-model",
    ],
)
def test_malformed_bodies(strict: RunningGateway, content: bytes) -> None:
    assert_clean_4xx(post_raw(strict, content), 400)


def test_huge_json_is_413(strict: RunningGateway) -> None:
    body = json.dumps({"model": "local-tts", "input": "a" * 3_000_000}).encode()
    assert_clean_4xx(post_raw(strict, body), 413)


def test_huge_base64_is_413(strict: RunningGateway) -> None:
    audio = base64.b64encode(bytes(2_500_000)).decode()
    body = json.dumps({"model": "local-whisper-tiny-en", "input": audio}).encode()
    assert_clean_4xx(post_raw(strict, body), 413)


def test_a_small_file_claiming_long_audio_stops_at_the_limit(strict: RunningGateway) -> None:
    # An hour of silence in a few hundred kilobytes, against this gateway's 60-second limit.
    flac = silent_flac(3600)
    assert len(flac) < 1_000_000
    data = base64.b64encode(flac).decode()
    response = post_raw(
        strict, json.dumps({"model": "local-whisper-tiny-en", "input": data}).encode()
    )
    assert_clean_4xx(response, 400)
    assert response.json()["error"]["code"] == "audio_too_long"


def test_wrong_content_types_are_read_as_json_or_refused(strict: RunningGateway) -> None:
    body = json.dumps({"model": "local-tts", "input": "Content type does not matter."}).encode()
    assert post_raw(strict, body, "text/plain").status_code == 200
    assert_clean_4xx(
        post_raw(strict, b"model=local-tts&input=hi", "application/x-www-form-urlencoded"), 400
    )


def test_header_injection_does_not_reach_responses(strict: RunningGateway) -> None:
    with httpx.Client() as client:
        response = client.post(
            f"{strict.base_url}/api/v1/audio",
            json={"model": "local-tts", "input": "hi"},
            headers={"authorization": f"Bearer {strict.key}", "x-request-id": "evil\tinjected"},
        )
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    assert "evil" not in str(response.headers)


def test_nothing_is_left_held(strict: RunningGateway) -> None:
    with strict.client() as client:
        assert client.get("/api/v1/balance").json()["held_micro_usd"] == 0


def test_logs_never_show_a_secret(strict: RunningGateway) -> None:
    log = Path(strict.output).read_text()
    # The first start prints the development key on purpose; nothing after it repeats it.
    after_start = log.split("serving on", 1)[1]
    assert strict.key not in after_start


def test_audio_by_url_is_refused_and_never_fetched(strict: RunningGateway) -> None:
    """No outbound request to an address the client chose: a listener on loopback stays idle."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/speech.wav"
        with strict.client() as client:
            unified = client.post("/api/v1/audio", json={"model": "whisper-1", "input": url})
            chat = client.post(
                "/v1/chat/completions",
                json={
                    "model": "local-voice-chat",
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "input_audio",
                                    "input_audio": {"data": url, "format": "wav"},
                                }
                            ],
                        }
                    ],
                },
            )
        with pytest.raises(TimeoutError):
            listener.accept()
    assert_clean_4xx(unified, 400)
    assert unified.json()["error"]["code"] == "audio_url_not_allowed"
    assert_clean_4xx(chat, 400)
