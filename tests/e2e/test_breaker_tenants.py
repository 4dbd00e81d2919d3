"""One tenant's failing requests do not close a model to the other tenants (three requests the
provider answered with 500 once closed it to everyone for 10 s)."""

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator, routed_gateway

SPEECH = {"model": "gpt-4o-mini-tts", "input": "Breaker.", "voice": "alloy"}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(
        Path(tmp_path_factory.mktemp("breaker")),
        VOXGATE_BREAKER_THRESHOLD="3",  # the default (the simulated gateways lift it)
        VOXGATE_BREAKER_COOLDOWN_SECONDS="600",  # nothing cools down during the test
    ) as served:
        yield served


def test_a_tenants_500s_leave_the_model_open_to_others(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    attacker = gateway.new_workspace(f"attacker-{secrets.token_hex(4)}", "5.00")
    other = gateway.new_workspace(f"other-{secrets.token_hex(4)}", "5.00")
    for credential in SIM_KEYS.values():
        fault: dict[str, object] = {"kind": "500"}
        sim.queue_faults(credential, fault, fault, fault)
    with gateway.client(attacker) as client:
        for _ in range(3):
            assert client.post("/v1/audio/speech", json=SPEECH).status_code == 503
        sim.reset()  # the provider is healthy: only the attacker's requests failed
        closed = client.post("/v1/audio/speech", json=SPEECH)
    # To the attacker, the model is closed for now (its own failures in a row)...
    assert closed.status_code == 503, closed.text
    assert "cooling down" in closed.json()["error"]["message"]
    # ...and to everyone else it is open.
    with gateway.client(other) as client:
        served_other = client.post("/v1/audio/speech", json=SPEECH)
    assert served_other.status_code == 200, served_other.text
