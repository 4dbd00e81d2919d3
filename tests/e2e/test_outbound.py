"""No client-chosen outbound address: a URL in any field of any endpoint is refused or carried
as text, and never fetched by the gateway. A listener on loopback must see no connection while
every endpoint is sent URLs pointing at it."""

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.gateway_process import RunningGateway, routed_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with routed_gateway(tmp_path_factory.mktemp("outbound")) as (running, _):
        yield running


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.setblocking(False)
        yield sock


def calls(url: str) -> list[tuple[str, dict[str, Any], str | None]]:
    """(path, request, the refusal code expected or None when the URL is only text)."""
    audio_part = {"type": "input_audio", "input_audio": {"data": url, "format": "wav"}}
    return [
        ("/api/v1/audio", {"json": {"model": "whisper-1", "input": url}}, "audio_url_not_allowed"),
        (
            "/api/v1/audio",
            {"json": {"model": "local-whisper-tiny-en", "input": f" {url.upper()}"}},
            "audio_url_not_allowed",
        ),
        (
            "/api/v1/audio",
            {"json": {"model": "gpt-audio-1.5", "task": "transcription", "input": url}},
            "audio_url_not_allowed",
        ),
        (
            "/v1/audio/transcriptions",
            {"data": {"model": "whisper-1", "file": url}},
            "invalid_type",
        ),
        (
            "/v1/audio/translations",
            {"data": {"model": "whisper-1", "file": url, "prompt": url}},
            "invalid_type",
        ),
        (
            "/v1/audio/transcriptions",  # the URL as the file's content: not audio
            {"data": {"model": "whisper-1"}, "files": {"file": ("a.wav", url.encode())}},
            "invalid_audio",
        ),
        (
            "/v1/chat/completions",
            {
                "json": {
                    "model": "gpt-audio",
                    "messages": [{"role": "user", "content": [audio_part]}],
                }
            },
            None,
        ),
        (
            "/v1/chat/completions",
            {
                "json": {
                    "model": "gpt-audio",
                    "messages": [
                        {
                            "role": "user",
                            "content": [{"type": "image_url", "image_url": {"url": url}}],
                        }
                    ],
                }
            },
            None,
        ),
        (
            "/v1/audio/speech",
            {
                "json": {
                    "model": "gpt-4o-mini-tts",
                    "input": url,
                    "voice": "alloy",
                    "instructions": url,
                }
            },
            None,
        ),
        (
            "/v1/realtime/client_secrets",
            {
                "json": {
                    "session": {
                        "type": "realtime",
                        "model": "gpt-audio-1.5",
                        "tools": [{"type": "mcp", "server_url": url, "server_label": "x"}],
                    }
                }
            },
            None,
        ),
    ]


def test_no_field_of_any_endpoint_makes_the_gateway_fetch_a_url(
    gateway: RunningGateway, listener: socket.socket
) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/audio.wav"
    with gateway.client() as client:
        for path, request, refused_as in calls(url):
            response = client.post(path, **request)
            assert response.status_code < 500, (path, response.text)
            if refused_as is not None:
                assert response.status_code == 400, (path, response.text)
                assert response.json()["error"]["code"] == refused_as, (path, response.text)
        # Every answer is in; anything the gateway fetched would have connected by now.
        assert client.get("/api/v1/balance").json()["held_micro_usd"] == 0
    with pytest.raises(BlockingIOError):
        listener.accept()
