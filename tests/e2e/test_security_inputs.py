"""Inputs that used to answer 500: each is now a clear 4xx naming the field, or audio."""

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.audio_probe import probe
from tests.gateway_process import ADMIN_TOKEN, RunningGateway, routed_gateway
from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio

TRUNCATED_WAV = encode(PcmAudio(bytes(2 * 16_000), 16_000), "wav")[:100]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with routed_gateway(Path(tmp_path_factory.mktemp("inputs"))) as (running, _):
        yield running


def assert_4xx_naming(response: httpx.Response, param: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param, error


def unified(gateway: RunningGateway, **body: Any) -> httpx.Response:
    with gateway.client() as client:
        return client.post("/api/v1/audio", json=body)


@pytest.mark.parametrize("model", ["local-tts", "gpt-4o-mini-tts"])
def test_a_nul_character_in_speech_input_is_spoken_around(
    gateway: RunningGateway, model: str
) -> None:
    response = unified(gateway, model=model, input="Hello\x00 world.", response_format="mp3")
    assert response.status_code == 200, response.text
    audio = probe(base64.b64decode(response.json()["data"]["audio_base64"]))
    assert audio.duration_seconds > 0.2


@pytest.mark.parametrize("text", ["...", "!?", "\x00\x01"])
@pytest.mark.parametrize("fmt", ["mp3", "wav", "aac"])
def test_text_with_nothing_to_speak_is_refused_by_name(
    gateway: RunningGateway, text: str, fmt: str
) -> None:
    response = unified(gateway, model="local-tts", input=text, response_format=fmt)
    if response.status_code == 200:  # Piper may voice punctuation as a breath: then it decodes
        probe(base64.b64decode(response.json()["data"]["audio_base64"]))
        return
    assert_4xx_naming(response, "input")


def test_emoji_only_speech_decodes(gateway: RunningGateway) -> None:
    response = unified(gateway, model="local-tts", input="😀🎉👍", response_format="mp3")
    assert response.status_code == 200, response.text
    assert probe(base64.b64decode(response.json()["data"]["audio_base64"])).duration_seconds > 0


def test_the_openai_speech_route_refuses_text_with_nothing_to_speak(
    gateway: RunningGateway,
) -> None:
    with gateway.client() as client:
        response = client.post(
            "/v1/audio/speech", json={"model": "local-tts", "input": "...", "voice": "alloy"}
        )
    if response.status_code != 200:
        assert_4xx_naming(response, "input")


@pytest.mark.parametrize(
    "data", [b"plain text, not audio", TRUNCATED_WAV, b"RIFF\x00\x00\x00\x00WAVE"]
)
def test_non_audio_to_local_voice_chat_is_refused_by_name(
    gateway: RunningGateway, data: bytes
) -> None:
    with gateway.client() as client:
        response = client.post(
            "/v1/chat/completions",
            json={
                "model": "local-voice-chat",
                "modalities": ["text", "audio"],
                "audio": {"voice": "alloy", "format": "wav"},
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "input_audio",
                                "input_audio": {
                                    "data": base64.b64encode(data).decode(),
                                    "format": "wav",
                                },
                            }
                        ],
                    }
                ],
            },
        )
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("model", ["whisper-1", "local-whisper-tiny-en"])
def test_a_100_byte_truncated_wav_is_refused_by_name(gateway: RunningGateway, model: str) -> None:
    assert len(TRUNCATED_WAV) == 100
    with gateway.client() as client:
        response = client.post(
            "/v1/audio/transcriptions",
            data={"model": model},
            files={"file": ("cut.wav", TRUNCATED_WAV, "audio/wav")},
        )
    assert_4xx_naming(response, "file")
    encoded = base64.b64encode(TRUNCATED_WAV).decode()
    assert_4xx_naming(unified(gateway, model=model, input=encoded), "input")


def test_the_admin_api_requires_the_bearer_scheme(gateway: RunningGateway) -> None:
    with httpx.Client(base_url=gateway.base_url) as client:
        bare = client.get("/admin/v1/workspaces", headers={"authorization": ADMIN_TOKEN})
        basic = client.get(
            "/admin/v1/workspaces", headers={"authorization": f"Basic {ADMIN_TOKEN}"}
        )
        bearer = client.get(
            "/admin/v1/workspaces", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
        )
    assert bare.status_code == basic.status_code == 401
    assert bearer.status_code == 200


def test_a_duplicate_workspace_name_is_a_409(gateway: RunningGateway) -> None:
    name = f"dup-{secrets.token_hex(4)}"
    with gateway.admin() as admin:
        first = admin.post("/admin/v1/workspaces", json={"name": name})
        again = admin.post("/admin/v1/workspaces", json={"name": name})
    assert first.status_code == 201, first.text
    assert_4xx_naming(again, "name", 409)
