"""A refused /v1/chat/completions request leaves a usage record, and its refusal names the
field with the code the unified endpoint uses for the same fault."""

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_process import RunningGateway, routed_gateway

MESSAGES = [{"role": "user", "content": "Hello."}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with routed_gateway(Path(tmp_path_factory.mktemp("refusals"))) as (running, _):
        yield running


def refused(gateway: RunningGateway, path: str, body: dict[str, Any]) -> tuple[Any, Any]:
    key = gateway.new_workspace(f"refusals-{secrets.token_hex(4)}", "1.00")
    with gateway.client(key) as client:
        response = client.post(path, json=body)
        records = client.get("/api/v1/usage").json()["data"]
    assert response.status_code == 400, response.text
    return response.json()["error"], records


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        pytest.param(
            {"model": "gpt-audio", "messages": MESSAGES, "temperature": 7},
            "temperature",
            "invalid_value",
            id="out-of-range",
        ),
        pytest.param(
            {"model": "gpt-audio", "messages": MESSAGES, "frobnicate": 1},
            "frobnicate",
            "unknown_parameter",
            id="unknown-parameter",
        ),
        pytest.param(
            {
                "model": "gpt-audio",
                "messages": MESSAGES,
                "audio": {"voice": "alloy", "format": "wav"},
            },
            "audio",
            "invalid_value",
            id="audio-without-the-audio-modality",
        ),
    ],
)
def test_a_refused_chat_request_is_recorded_and_named(
    gateway: RunningGateway, body: dict[str, Any], param: str, code: str
) -> None:
    error, records = refused(gateway, "/v1/chat/completions", body)
    assert (error["param"], error["code"]) == (param, code)
    [record] = records
    assert record["status"] == "rejected"
    assert record["http_status"] == 400
    assert record["error_code"] == code
    assert record["model"] == "gpt-audio"
    assert record["charged_micro_usd"] == 0


def test_an_unknown_field_has_one_code_on_both_endpoints(gateway: RunningGateway) -> None:
    unified, _ = refused(gateway, "/api/v1/audio", {"model": "gpt-audio", "input": "Hi.", "x": 1})
    chat, _ = refused(
        gateway, "/v1/chat/completions", {"model": "gpt-audio", "messages": MESSAGES, "x": 1}
    )
    assert unified["code"] == chat["code"] == "unknown_parameter"


@pytest.mark.parametrize(
    ("response_format", "session_format"),
    [("pcm16", "audio/pcm"), ("g711_ulaw", "audio/pcmu"), ("g711_alaw", "audio/pcma")],
)
def test_a_realtime_session_takes_the_formats_it_speaks(
    gateway: RunningGateway, response_format: str, session_format: str
) -> None:
    body = {
        "model": "gpt-audio-1.5",
        "task": "realtime",
        "input": "Be brief.",
        "response_format": response_format,
    }
    with gateway.client() as client:
        response = client.post("/api/v1/audio", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["session"]["audio"]["output"]["format"]["type"] == session_format


@pytest.mark.parametrize("response_format", ["mp3", "wav", "opus"])
def test_a_realtime_session_refuses_other_formats_by_name(
    gateway: RunningGateway, response_format: str
) -> None:
    body = {
        "model": "gpt-audio-1.5",
        "task": "realtime",
        "input": "Be brief.",
        "response_format": response_format,
    }
    error, _ = refused(gateway, "/api/v1/audio", body)
    assert (error["param"], error["code"]) == ("response_format", "invalid_value")
