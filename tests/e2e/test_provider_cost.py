"""What the provider cost beside what the client was charged: a failover from gpt-audio-1.5 to
OpenAI's gpt-audio is charged at the requested row's prices and recorded at the dearer
upstream's; the operator reads the margin per model and route; a route may forbid a failover
that would cost more than it earns."""

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.gateway_process import (
    ADMIN_TOKEN,
    SIM_KEYS,
    RunningGateway,
    RunningSimulator,
    routed_gateway,
)
from voxgate.settings import Settings

AZURE = SIM_KEYS["azure"]
BODY = {"model": "gpt-audio-1.5", "task": "tts", "input": "Hello there.", "voice": "alloy"}


def catalog_price(model: str) -> dict[str, Decimal]:
    """A row's prices as its data file states them (not as the gateway reads them)."""
    path = Settings().catalog_dir / "models" / f"{model}.yaml"
    pricing = yaml.safe_load(path.read_text())["pricing"]
    return {name: Decimal(str(value)) for name, value in pricing.items()}


def micro_usd(prices: dict[str, Decimal], record: dict[str, Any]) -> int:
    """Tokens at per-1M prices; audio at the audio rate where the row has one."""
    zero = Decimal(0)
    text_in = prices.get("text_input_per_1m_tokens", zero)
    text_out = prices.get("text_output_per_1m_tokens", zero)
    exact = (
        text_in * record["input_text_tokens"]
        + text_out * record["output_text_tokens"]
        + prices.get("audio_input_per_1m_tokens", text_in) * record["input_audio_tokens"]
        + prices.get("audio_output_per_1m_tokens", text_out) * record["output_audio_tokens"]
        + prices.get("per_1m_characters", zero) * record["input_characters"]
    )
    return int(exact.quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def admin_records(gateway: RunningGateway, workspace_id: str) -> list[dict[str, Any]]:
    with gateway.admin() as admin:
        rows: list[dict[str, Any]] = admin.get(f"/admin/v1/workspaces/{workspace_id}/usage").json()[
            "data"
        ]
        return rows


def workspace_with_key(gateway: RunningGateway, credit: str) -> tuple[str, str]:
    with gateway.admin() as admin:
        name = f"margin-{secrets.token_hex(4)}"
        workspace_id = admin.post(
            "/admin/v1/workspaces", json={"name": name, "credit_usd": credit}
        ).json()["id"]
        key = admin.post(f"/admin/v1/workspaces/{workspace_id}/keys", json={"name": "t"}).json()
    return workspace_id, key["secret"]


@pytest.fixture(scope="module")
def routed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(Path(tmp_path_factory.mktemp("provider-cost"))) as pair:
        yield pair


def test_a_dearer_failover_records_the_providers_cost_beside_the_charge(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    sim.queue_faults(AZURE, {"kind": "500"})
    workspace_id, key = workspace_with_key(gateway, "1.00")
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json=BODY)
        assert response.status_code == 200, response.text
        [seen] = client.get("/api/v1/usage").json()["data"]
    assert "provider_cost_micro_usd" not in seen  # the operator's business, not the tenant's
    [record] = admin_records(gateway, workspace_id)
    assert record["route"] == "openai/gpt-audio#openai"
    assert record["charged_micro_usd"] == micro_usd(catalog_price("gpt-audio-1.5"), record)
    assert record["provider_cost_micro_usd"] == micro_usd(catalog_price("gpt-audio"), record)
    assert record["provider_cost_micro_usd"] > record["charged_micro_usd"]

    with gateway.admin() as admin:
        margins = admin.get("/admin/v1/margins").json()["data"]
    [row] = [m for m in margins if m["route"] == "openai/gpt-audio#openai"]
    assert row["margin_micro_usd"] == row["charged_micro_usd"] - row["provider_cost_micro_usd"] < 0
    with httpx.Client(base_url=gateway.base_url) as anonymous:
        assert anonymous.get("/admin/v1/margins").status_code == 401


def test_the_cli_reports_margins_per_model_and_route(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = routed
    env = {"VOXGATE_DATA_DIR": str(gateway.data_dir), "VOXGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    shown = subprocess.run(
        [sys.executable, "-m", "voxgate", "usage", "margins"],
        env={**_inherited(), **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert shown[0].split("\t")[:6] == [
        "model",
        "route",
        "requests",
        "charged_usd",
        "provider_cost_usd",
        "margin_usd",
    ]
    assert any(line.startswith("gpt-audio-1.5\topenai/gpt-audio#openai\t") for line in shown[1:]), (
        shown
    )


def _inherited() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("VOXGATE_")}


@pytest.fixture(scope="module")
def strict_routes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    """The built-in catalog, with gpt-audio-1.5's OpenAI route allowed to cost at most what
    the client pays."""
    root = Path(tmp_path_factory.mktemp("strict-routes"))
    catalog = root / "catalog"
    shutil.copytree(Settings().catalog_dir, catalog)
    path = catalog / "models" / "gpt-audio-1.5.yaml"
    row = yaml.safe_load(path.read_text())
    for route in row["routes"]:
        if route["provider"] == "openai":
            route["max_cost_ratio"] = "1"
    path.write_text(yaml.safe_dump(row, sort_keys=False))
    with routed_gateway(root, VOXGATE_CATALOG_DIR=str(catalog)) as pair:
        yield pair


def test_a_route_dearer_than_its_max_cost_ratio_is_not_tried(
    strict_routes: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = strict_routes
    sim.reset()
    sim.queue_faults(AZURE, {"kind": "500"})
    _, key = workspace_with_key(gateway, "1.00")
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json=BODY)
        balance = client.get("/api/v1/balance").json()
    assert response.status_code >= 500 and response.status_code != 500, response.text
    assert [call["credential"] for call in sim.requests()] == [AZURE]
    assert balance["balance_micro_usd"] == 1_000_000 and balance["held_micro_usd"] == 0


def test_a_provider_past_its_cap_is_charged_the_cap_and_flagged(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    sim.queue_faults(AZURE, {"kind": "uncapped"})
    workspace_id, key = workspace_with_key(gateway, "1.00")
    # A cap of 5 output tokens: the dishonest provider speaks its whole answer all the same.
    body = {
        "model": "gpt-audio-1.5",
        "task": "audio_chat",
        "input": "Tell me a long story.",
        "max_output_tokens": 5,
    }
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json=body)
        assert response.status_code == 200, response.text
        balance = client.get("/api/v1/balance").json()
    [call] = sim.requests()
    assert call["body"]["max_completion_tokens"] == 5
    [record] = admin_records(gateway, workspace_id)
    assert record["provider_overrun"] is True
    assert record["output_text_tokens"] + record["output_audio_tokens"] == 5
    assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]
    assert record["charged_micro_usd"] == micro_usd(catalog_price("gpt-audio-1.5"), record)
    # What the provider sent past the cap, it bills the operator: shown, never charged.
    assert record["provider_cost_micro_usd"] > record["charged_micro_usd"]
    assert balance["balance_micro_usd"] == 1_000_000 - record["charged_micro_usd"]


def test_an_answer_without_usage_is_charged_the_gateways_measure_and_marked(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    workspace_id, key = workspace_with_key(gateway, "1.00")
    body = {"model": "gpt-4o-mini-tts", "input": "Hello there.", "voice": "alloy"}
    with gateway.client(key) as client:
        assert client.post("/api/v1/audio", json=body).status_code == 200
    # OpenAI's unstreamed speech reports no usage: the audio it sent is measured.
    [record] = admin_records(gateway, workspace_id)
    assert record["estimated"] is True and record["provider_overrun"] is False
    assert record["output_audio_tokens"] > 0
    assert record["charged_micro_usd"] == micro_usd(catalog_price("gpt-4o-mini-tts"), record) > 0
