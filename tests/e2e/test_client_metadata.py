"""With `strip_client_metadata` set, a chat completion reaches the provider without the client's
`store`, `metadata` and `user`; its other parameters are forwarded as ever."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway


@pytest.fixture(scope="module")
def stripping(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = Path(tmp_path_factory.mktemp("strip-metadata"))
    with routed_gateway(root, VOXGATE_STRIP_CLIENT_METADATA="true") as pair:
        yield pair


def test_store_metadata_and_user_are_not_forwarded(
    stripping: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = stripping
    sim.reset()
    body: dict[str, Any] = {
        "model": "gpt-audio",
        "messages": [{"role": "user", "content": "Hello."}],
        "store": True,
        "metadata": {"customer": "acme"},
        "user": "someone@example.com",
        "temperature": 0.5,
    }
    with gateway.client() as client:
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    [sent] = [r["body"] for r in sim.requests() if r["path"].endswith("/chat/completions")]
    assert not {"store", "metadata", "user"} & set(sent)
    assert sent["temperature"] == 0.5
