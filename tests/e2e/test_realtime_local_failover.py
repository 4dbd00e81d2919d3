"""The local realtime session's chat leg fails over (issue 25), against the real gateway and the
provider simulator: local-realtime's chat route has a second key, the simulator answers the
first with a 503, the response completes on the second, and the chat's usage record lists both
attempts."""

import asyncio
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_realtime_money import connect, manual_turns, settled, turn, usage
from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator, routed_gateway
from voxgate.settings import PACKAGE_DIR

MODEL = "local-realtime"
FIRST_KEY = "cascade-key"  # what routed_gateway gives the cascade's chat credential
SECOND = {
    "name": "text-chat-secondary",
    "api_key_env": "VOXGATE_CASCADE_CHAT_API_KEY_SECONDARY",
    "base_url_env": "VOXGATE_CASCADE_CHAT_BASE_URL",
}


def overlay(root: Path) -> Path:
    """The package catalog with a second key on local-realtime's chat route."""
    catalog = root / "catalog"
    shutil.copytree(PACKAGE_DIR / "catalog", catalog)
    path = catalog / "models" / f"{MODEL}.yaml"
    shipped = yaml.safe_load(path.read_text())
    [route] = shipped["routes"]
    route["credentials"] = [*route["credentials"], SECOND]
    path.write_text(yaml.safe_dump(shipped, sort_keys=False))
    return catalog


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = tmp_path_factory.mktemp("rt-local-failover")
    settings = {
        "VOXGATE_CATALOG_DIR": str(overlay(root)),
        str(SECOND["api_key_env"]): SIM_KEYS["secondary"],
    }
    with routed_gateway(root, fast=True, **settings) as served:
        yield served


def test_the_chat_leg_fails_over_to_the_next_key_and_its_record_lists_both(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    key = gateway.new_workspace(f"rt-local-failover-{secrets.token_hex(4)}", "1.00")
    sim.queue_faults(FIRST_KEY, {"kind": "503"})

    async def answered() -> str:
        async with connect(gateway, key, MODEL) as socket:
            await manual_turns(socket)
            done = await turn(socket)
            return str(done["response"]["status"]) if "response" in done else str(done)

    assert asyncio.run(answered()) == "completed"
    after = settled(gateway, key)
    assert after["held_micro_usd"] == 0
    [chat] = [r for r in usage(gateway, key) if [line["piece"] for line in r["lines"]] == ["chat"]]
    assert [(a["route"], a["status"]) for a in chat["attempts"]] == [
        ("openai-compatible/llama3.2#text-chat", "503"),
        ("openai-compatible/llama3.2#text-chat-secondary", "ok"),
    ]
    assert 0 < chat["charged_micro_usd"] == chat["cost_micro_usd"]
