"""Chat text past the tokenizer's limits (a million characters, 200,000 tokens) is counted,
held and answered like any other: once it was a 500 from the token counter."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway
from voxgate.billing.metering import MAX_COUNTED_CHARACTERS


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(Path(tmp_path_factory.mktemp("long-chat"))) as served:
        yield served


@pytest.mark.parametrize(
    "text", ["a" * 1_000_001, "ab " * 300_000], ids=["million-characters", "300k-tokens"]
)
def test_a_message_past_the_tokenizers_limits_is_not_a_500(
    served: tuple[RunningGateway, RunningSimulator], text: str
) -> None:
    gateway, _ = served
    body = {"model": "gpt-audio", "messages": [{"role": "user", "content": text}]}
    with gateway.client() as client:
        before = client.get("/api/v1/balance").json()["balance_micro_usd"]
        response = client.post("/v1/chat/completions", json=body)
        after = client.get("/api/v1/balance").json()
    assert response.status_code == 200, response.text[:500]
    assert after["held_micro_usd"] == 0 and after["balance_micro_usd"] < before


def test_a_message_past_what_any_model_takes_is_a_400(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    text = "a" * (MAX_COUNTED_CHARACTERS + 1)
    body = {"model": "gpt-audio", "messages": [{"role": "user", "content": text}]}
    with gateway.client() as client:
        before = client.get("/api/v1/balance").json()
        response = client.post("/v1/chat/completions", json=body)
        after = client.get("/api/v1/balance").json()
    assert response.status_code == 400, response.text[:500]
    assert response.json()["error"]["code"] == "text_too_long"
    assert after == before
