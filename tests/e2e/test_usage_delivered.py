"""Usage reports the audio the client received: at another speed, the delivered duration, not
the provider's (decoded from the answer, on an audio chat model and on the local engine)."""

import base64
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.audio_probe import probe
from tests.gateway_process import RunningGateway, routed_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with routed_gateway(Path(tmp_path_factory.mktemp("delivered"))) as (running, _sim):
        yield running


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"model": "gpt-audio-1.5", "task": "tts", "input": "Slowly, please.", "speed": 0.25},
            id="audio-chat-model",
        ),
        pytest.param(
            {"model": "local-tts", "input": "Slowly, please.", "speed": 0.25}, id="local-engine"
        ),
    ],
)
def test_a_slowed_answer_reports_what_was_delivered(
    gateway: RunningGateway, body: dict[str, Any]
) -> None:
    with gateway.client() as client:
        response = client.post("/api/v1/audio", json={**body, "response_format": "wav"})
    assert response.status_code == 200, response.text
    reply = response.json()
    delivered = probe(base64.b64decode(reply["data"]["audio_base64"])).duration_seconds
    assert reply["usage"]["audio_seconds"] == pytest.approx(delivered, abs=0.05)
    minutes = Decimal(reply["usage"]["estimated_audio_minutes"])
    assert float(minutes) * 60 == pytest.approx(delivered, abs=0.06)
