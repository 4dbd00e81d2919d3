"""A speech request's hold bounds what it costs, whatever lengthens the speech: instructions a
provider speaks with the text, emoji read aloud by name. The provider's answer (the simulator
synthesising with the real engine) sets the cost; the hold must not be below it."""

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_process import RunningGateway, routed_gateway

EMOJI = "😀🎉🚀🌍🍕🎵🐶🌈🔥💡" * 10
ETHIOPIC = "ሰላም ለዓለም እንዴት ነህ ዛሬ ጥሩ ቀን ነው። " * 6
ROMAN = "MMMCMXCIX MDCCLXXVI XLII CDXLIV " * 4
INSTRUCTIONS = "Speak slowly, warmly and clearly, like a patient teacher reading aloud. " * 8


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    root = Path(tmp_path_factory.mktemp("hold-bounds"))
    with routed_gateway(root, fast=False, VOXGATE_UPSTREAM_TIMEOUT_SECONDS="120") as (running, _):
        yield running


def record_of(gateway: RunningGateway, body: dict[str, Any]) -> dict[str, Any]:
    key = gateway.new_workspace(f"bounds-{secrets.token_hex(4)}", "5.00")
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json=body)
        assert response.status_code == 200, response.text
        [record] = client.get("/api/v1/usage").json()["data"]
    return record


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"model": "gpt-4o-mini-tts", "input": EMOJI}, id="emoji-read-by-name"),
        pytest.param(
            {"model": "gemini-2.5-flash-tts", "input": "Hello.", "instructions": INSTRUCTIONS},
            id="gemini-speaks-its-instructions",
        ),
        pytest.param({"model": "gpt-4o-mini-tts", "input": ETHIOPIC}, id="ethiopic-script"),
        pytest.param(
            {"model": "gpt-4o-mini-tts", "input": ROMAN, "speed": 0.25},
            id="roman-numerals-slowly",
        ),
        pytest.param(
            {"model": "gemini-2.5-flash-tts", "input": ROMAN, "speed": 4},
            id="gemini-at-four-times-speed",
        ),
    ],
)
def test_the_hold_covers_the_true_cost(gateway: RunningGateway, body: dict[str, Any]) -> None:
    record = record_of(gateway, body)
    assert record["audio_milliseconds"] > 0
    assert record["charged_micro_usd"] == record["cost_micro_usd"]
    assert record["hold_micro_usd"] >= record["cost_micro_usd"], record
