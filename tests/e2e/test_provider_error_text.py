"""A provider's error text reaches the client, but never the operator's key: OpenAI's 401 names
the key's first and last characters, and the gateway filters anything key-like out of it
before it answers, records or logs it (through the simulator, over sockets)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_process import (
    SIM_KEYS,
    RunningGateway,
    RunningSimulator,
    routed_gateway,
    written_text,
)

OPERATOR_KEY = "sk-proj-operatorSecretKey0123456789abcdWXYZ"


def openai_401_text(key: str) -> str:
    """How OpenAI words a 401 for a key it does not know (its first 8 and last 4 characters)."""
    masked = key[:8] + "*" * (len(key) - 12) + key[-4:]
    return (
        f"Incorrect API key provided: {masked}. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(Path(tmp_path_factory.mktemp("error-text"))) as served:
        yield served


def test_openais_401_text_reaches_the_client_without_the_key(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    fault: dict[str, object] = {"kind": "401", "message": openai_401_text(OPERATOR_KEY)}
    sim.queue_faults(SIM_KEYS["primary"], fault)  # a 401 is final: no other key is tried
    speech = {"model": "gpt-4o-mini-tts", "input": "Hello.", "voice": "alloy"}
    with gateway.client() as client:
        response = client.post("/v1/audio/speech", json=speech)
        record = client.get(f"/api/v1/usage/{response.headers['x-request-id']}")
    assert response.status_code == 502, response.text  # the operator's key: not the client's fault
    message = response.json()["error"]["message"]
    assert "Incorrect API key provided: [redacted]." in message  # the provider's words remain
    assert "account/api-keys" in message
    for seen in (response.text, record.text, written_text(gateway.output)):
        assert "WXYZ" not in seen and "sk-proj-" not in seen and "****" not in seen
