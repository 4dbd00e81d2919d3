"""Every client mistake gets a clear 4xx in the OpenAI error shape naming the field."""

import base64
import secrets
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import RunningGateway

WAV_HEADER_ONLY = base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt ").decode()
NOT_AUDIO = base64.b64encode(b"This is a plain text file, not audio at all." * 20).decode()

# (request body, status, error type, param, code)
CASES: list[tuple[Any, int, str, str | None, str]] = [
    (
        {"model": "local-tts", "input": "hi", "pitch": 3},
        400,
        "invalid_request_error",
        "pitch",
        "unknown_parameter",
    ),
    (
        {"model": "local-tts", "input": "hi", "instructions": "whisper"},
        400,
        "invalid_request_error",
        "instructions",
        "unknown_parameter",
    ),
    (
        {"model": "local-tts", "input": "hi", "speed": "fast"},
        400,
        "invalid_request_error",
        "speed",
        "invalid_type",
    ),
    (
        {"model": "local-tts", "input": "hi", "speed": True},
        400,
        "invalid_request_error",
        "speed",
        "invalid_type",
    ),
    ({"model": "local-tts", "input": 42}, 400, "invalid_request_error", "input", "invalid_type"),
    (
        {"model": "local-tts", "input": "hi", "speed": 4.5},
        400,
        "invalid_request_error",
        "speed",
        "out_of_range",
    ),
    (
        {"model": "local-tts", "input": "hi", "speed": 0.1},
        400,
        "invalid_request_error",
        "speed",
        "out_of_range",
    ),
    (
        {"model": "local-tts", "input": "hi", "voice": "darth"},
        400,
        "invalid_request_error",
        "voice",
        "invalid_value",
    ),
    (
        {"model": "local-tts", "input": "hi", "response_format": "ogg"},
        400,
        "invalid_request_error",
        "response_format",
        "invalid_value",
    ),
    (
        {"model": "no-such-model", "input": "hi"},
        404,
        "invalid_request_error",
        "model",
        "model_not_found",
    ),
    ({"input": "hi"}, 400, "invalid_request_error", "model", "missing_required_parameter"),
    ({"model": "local-tts"}, 400, "invalid_request_error", "input", "missing_required_parameter"),
    (
        {"model": "local-tts", "input": "hi", "task": "transcription"},
        400,
        "invalid_request_error",
        "task",
        "invalid_value",
    ),
    (
        {"model": "local-whisper-base", "input": NOT_AUDIO, "task": "tts"},
        400,
        "invalid_request_error",
        "task",
        "invalid_value",
    ),
    (
        {"model": "gpt-audio-1.5", "input": "hi", "task": "sing"},
        400,
        "invalid_request_error",
        "task",
        "invalid_value",
    ),
    ({"model": "local-tts", "input": "   "}, 400, "invalid_request_error", "input", "empty_input"),
    (
        {"model": "local-tts", "input": "x" * 4097},
        400,
        "invalid_request_error",
        "input",
        "string_above_max_length",
    ),
    (
        {"model": "local-whisper-tiny-en", "input": "%%%not base64%%%"},
        400,
        "invalid_request_error",
        "input",
        "invalid_base64",
    ),
    (
        {"model": "local-whisper-tiny-en", "input": "data:audio/wav,abc"},
        400,
        "invalid_request_error",
        "input",
        "invalid_base64",
    ),
    (
        {"model": "local-whisper-tiny-en", "input": NOT_AUDIO},
        400,
        "invalid_request_error",
        "input",
        "invalid_audio",
    ),
    (
        {"model": "local-whisper-tiny-en", "input": WAV_HEADER_ONLY},
        400,
        "invalid_request_error",
        "input",
        "invalid_audio",
    ),
    (
        {"model": "local-whisper-tiny-en", "input": NOT_AUDIO, "language": "fr"},
        400,
        "invalid_request_error",
        "language",
        "invalid_value",
    ),
    (["model", "local-tts"], 400, "invalid_request_error", None, "invalid_body"),
]


@pytest.mark.parametrize(("body", "status", "error_type", "param", "code"), CASES)
def test_bad_input_is_named(
    gateway: RunningGateway, body: Any, status: int, error_type: str, param: str | None, code: str
) -> None:
    with gateway.client() as client:
        response = client.post("/api/v1/audio", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (error_type, param, code)
    assert error["message"]
    assert response.headers["x-request-id"].startswith("req_")


def test_unknown_voice_lists_accepted_values(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        response = client.post(
            "/api/v1/audio", json={"model": "local-tts", "input": "hi", "voice": "x"}
        )
    assert "alloy" in response.json()["error"]["message"]
    assert "cedar" in response.json()["error"]["message"]


def test_malformed_json(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        response = client.post(
            "/api/v1/audio",
            content=b'{"model": "local-tts", "input": ',
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_body_over_the_limit_is_413(gateway: RunningGateway) -> None:
    too_big = b'{"model":"local-tts","input":"' + b"a" * (40 * 1024 * 1024 + 1) + b'"}'
    with gateway.client() as client:
        try:
            response = client.post("/api/v1/audio", content=too_big)
        except httpx.WriteError:
            pytest.fail("the gateway should answer 413, not drop the connection")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "missing_api_key"),
        ("Bearer vg_live_" + "x" * 43, "invalid_api_key"),
        ("Basic abc", "invalid_api_key"),
    ],
)
def test_missing_or_invalid_key_is_401(
    gateway: RunningGateway, authorization: str | None, code: str
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = httpx.post(
        f"{gateway.base_url}/api/v1/audio",
        json={"model": "local-tts", "input": "hi"},
        headers=headers,
    )
    assert response.status_code == 401
    assert response.json()["error"] == {
        "message": response.json()["error"]["message"],
        "type": "authentication_error",
        "param": None,
        "code": code,
    }


def test_model_without_credentials_is_503_naming_what_to_configure(gateway: RunningGateway) -> None:
    body = {"model": "gpt-audio-1.5", "task": "audio_chat", "input": "Hello", "voice": "alloy"}
    with gateway.client() as client:
        response = client.post("/api/v1/audio", json=body)
    assert response.status_code == 503
    assert response.headers["x-should-retry"] == "false"
    error = response.json()["error"]
    assert error["code"] == "no_route_configured"
    assert "AZURE_OPENAI_API_KEY" in error["message"]
    assert "AZURE_OPENAI_ENDPOINT" in error["message"]


def test_validation_comes_before_the_missing_route(gateway: RunningGateway) -> None:
    body = {"model": "gpt-audio-1.5", "input": "Hello", "voice": "nova"}
    with gateway.client() as client:
        response = client.post("/api/v1/audio", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "voice"


def test_the_openai_client_does_not_retry_a_missing_route(gateway: RunningGateway) -> None:
    key = gateway.new_workspace(f"no-route-{secrets.token_hex(4)}", "1.00")
    client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=2)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(
            model="gpt-audio", messages=[{"role": "user", "content": "Hello"}]
        )
    assert caught.value.status_code == 503
    with gateway.client(key) as admin:
        records = admin.get("/api/v1/usage").json()["data"]
    assert [record["error_code"] for record in records] == ["no_route_configured"]


def test_a_speech_format_of_the_wrong_type_is_refused_by_name(gateway: RunningGateway) -> None:
    body = {"model": "local-tts", "input": "hi", "voice": "alloy", "response_format": {}}
    with gateway.client() as client:
        response = client.post("/v1/audio/speech", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "response_format"
