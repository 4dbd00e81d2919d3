"""Budgets inside realtime sessions, over sockets, on the relay (the simulator as OpenAI) and on
`local-realtime`: a response past a cap is refused naming it and costs nothing, or runs on a
trimmed conversation and is charged within the cap; the caps come from the key and the
request; a session running out of credit is told before it is closed."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
import websockets
import yaml

from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway
from voxgate.settings import Settings

TIMEOUT = 60
MODELS = ["gpt-audio-1.5", "local-realtime"]
# An old turn big enough that three of them cost more than the caps below on either row.
BIG_TURN = "word " * 20_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with routed_gateway(tmp_path_factory.mktemp("rt-caps"), fast=True) as served:
        yield served


def prices(model: str) -> dict[str, Decimal]:
    """The row's prices as its catalog file states them, per 1M units (micro-USD a unit)."""
    path = Settings().catalog_dir / "models" / f"{model}.yaml"
    pricing = yaml.safe_load(path.read_text())["pricing"]
    return {name: Decimal(value) for name, value in pricing.items()}


def connect(gateway: RunningGateway, key: str, model: str, **caps: str) -> Any:
    query = urlencode({"model": model, **caps})
    url = "ws" + gateway.base_url.removeprefix("http") + f"/v1/realtime?{query}"
    return websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {key}"}, max_size=None
    )


async def until(socket: Any, *kinds: str) -> dict[str, Any]:
    while True:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
        if event["type"] in kinds:
            return event


async def send(socket: Any, event: dict[str, Any]) -> None:
    await socket.send(json.dumps(event))


async def manual_text_session(socket: Any, **voxgate: str) -> None:
    """No server VAD, text answers; the gateway's caps when given."""
    await until(socket, "session.created")
    session: dict[str, Any] = {
        "type": "realtime",
        "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": None}},
    }
    if voxgate:
        session["voxgate"] = voxgate
    await send(socket, {"type": "session.update", "session": session})
    await until(socket, "session.updated")


async def say(socket: Any, item_id: str, text: str) -> None:
    item = {
        "id": item_id,
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }
    await send(socket, {"type": "conversation.item.create", "item": item})
    await until(socket, "conversation.item.done", "conversation.item.created")


def balance(gateway: RunningGateway, key: str) -> int:
    with gateway.client(key) as client:
        return int(client.get("/api/v1/balance").json()["balance_micro_usd"])


def usage(gateway: RunningGateway, key: str) -> list[dict[str, Any]]:
    with gateway.client(key) as client:
        records: list[dict[str, Any]] = client.get("/api/v1/usage").json()["data"]
    return records


async def events_until(socket: Any, last: str) -> list[dict[str, Any]]:
    """Every event up to and including the first of type `last`."""
    seen = [json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))]
    while seen[-1]["type"] != last:
        seen.append(json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT)))
    return seen


def response_price(model: str, usage: dict[str, Any]) -> int:
    """A response.done's usage at the row's token prices (audio at the text rates where the
    row has none), rounded once, half up."""
    price = prices(model)
    text_in, text_out = price["text_input_per_1m_tokens"], price["text_output_per_1m_tokens"]
    audio_in = price.get("audio_input_per_1m_tokens", text_in)
    audio_out = price.get("audio_output_per_1m_tokens", text_out)
    given, made = usage["input_token_details"], usage["output_token_details"]
    total = (
        given["text_tokens"] * text_in
        + given["audio_tokens"] * audio_in
        + made["text_tokens"] * text_out
        + made["audio_tokens"] * audio_out
    )
    return int(total + Decimal("0.5"))


@pytest.mark.parametrize("model", MODELS)
def test_a_response_past_the_keys_response_cap_is_refused_and_costs_nothing(
    served: tuple[RunningGateway, RunningSimulator], model: str
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(
        f"caps-refuse-{secrets.token_hex(4)}", "1.00", max_response_cost_usd="0.000001"
    )

    async def refused() -> tuple[list[dict[str, Any]], int, int]:
        async with connect(gateway, key, model) as socket:
            await manual_text_session(socket)
            await say(socket, "item_question", "What is the capital of France?")
            before = balance(gateway, key)
            await send(socket, {"type": "response.create", "event_id": "evt_ask"})
            # The session goes on: the next event is answered, after the refusal.
            retrieve = {"type": "conversation.item.retrieve", "item_id": "item_question"}
            await send(socket, retrieve)
            seen = await events_until(socket, "conversation.item.retrieved")
            return seen, before, balance(gateway, key)

    seen, before, after = asyncio.run(refused())
    [error] = [event for event in seen if event["type"].startswith(("error", "response."))]
    assert error["type"] == "error", seen
    assert error["error"]["code"] == "response_budget_exceeded"
    assert error["error"]["param"] == "max_response_cost_usd"
    assert error["error"]["event_id"] == "evt_ask"
    assert after == before  # nothing was charged for it


@pytest.mark.parametrize("model", MODELS)
def test_trim_deletes_the_oldest_turns_and_the_response_runs_within_its_cap(
    served: tuple[RunningGateway, RunningSimulator], model: str
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"caps-trim-{secrets.token_hex(4)}", "5.00")
    cap = Decimal("0.005")

    async def trimmed() -> tuple[list[dict[str, Any]], int, int]:
        async with connect(gateway, key, model, max_response_cost_usd=str(cap)) as socket:
            await manual_text_session(socket, cap_policy="trim")
            for index in range(3):
                await say(socket, f"item_old{index}", BIG_TURN)
            await say(socket, "item_new", "What is the capital of France?")
            before = balance(gateway, key)
            response = {"max_output_tokens": 50}
            await send(socket, {"type": "response.create", "response": response})
            seen = await events_until(socket, "response.done")
            return seen, before, balance(gateway, key)

    seen, before, after = asyncio.run(trimmed())
    deleted = [e["item_id"] for e in seen if e["type"] == "conversation.item.deleted"]
    assert deleted == ["item_old0", "item_old1", "item_old2"]
    assert not [e for e in seen if e["type"] == "error"], seen
    done = seen[-1]
    assert done["response"]["status"] == "completed"
    charged = before - after
    assert charged == response_price(model, done["response"]["usage"])
    assert 0 < charged <= cap * 1_000_000


@pytest.mark.parametrize("model", MODELS)
def test_a_request_lowers_its_keys_caps_and_may_not_raise_them(
    served: tuple[RunningGateway, RunningSimulator], model: str
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(
        f"caps-ask-{secrets.token_hex(4)}", "1.00", max_session_cost_usd="0.50"
    )

    async def raised_on_the_url() -> tuple[int, dict[str, Any]]:
        try:
            async with connect(gateway, key, model, max_session_cost_usd="0.60"):
                raise AssertionError("a raised cap was accepted")
        except websockets.InvalidStatus as refused:
            return refused.response.status_code, json.loads(refused.response.body or b"{}")

    status, body = asyncio.run(raised_on_the_url())
    assert status == 400
    assert body["error"]["param"] == "max_session_cost_usd"

    async def in_session() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(gateway, key, model) as socket:
            await until(socket, "session.created")
            raise_it = {"voxgate": {"max_session_cost_usd": "0.60"}}
            await send(socket, {"type": "session.update", "session": raise_it})
            raised = await until(socket, "error", "session.updated")
            await manual_text_session_updated(socket, max_session_cost_usd="0.000001")
            await say(socket, "item_question", "What is the capital of France?")
            await send(socket, {"type": "response.create"})
            return raised, await until(socket, "error", "response.created")

    raised, refused = asyncio.run(in_session())
    assert raised["type"] == "error"
    assert raised["error"]["param"] == "session.voxgate.max_session_cost_usd"
    assert refused["type"] == "error"
    assert refused["error"]["code"] == "session_budget_exceeded"
    assert refused["error"]["param"] == "max_session_cost_usd"


async def manual_text_session_updated(socket: Any, **voxgate: str) -> None:
    session: dict[str, Any] = {
        "type": "realtime",
        "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": None}},
        "voxgate": voxgate,
    }
    await send(socket, {"type": "session.update", "session": session})
    await until(socket, "session.updated")


# Credit for the session's first step and a little more: the first response runs (capped to
# what the credit holds), and its charge leaves too little to hold the next step. On the
# local row a big turn makes the next response's projection more than half the credit.
RUNNING_OUT = {
    "gpt-audio-1.5": ("0.010010", ["What is the capital of France?"]),
    "local-realtime": ("0.015000", [BIG_TURN, "What is the capital of France?"]),
}


@pytest.mark.parametrize("model", MODELS)
def test_a_session_is_told_its_credit_runs_low_before_it_is_closed(
    served: tuple[RunningGateway, RunningSimulator], model: str
) -> None:
    gateway, _ = served
    credit, said = RUNNING_OUT[model]
    key = gateway.new_workspace(f"caps-low-{secrets.token_hex(4)}", credit)

    async def running_out() -> tuple[list[dict[str, Any]], int | None]:
        async with connect(gateway, key, model) as socket:
            await manual_text_session(socket)
            for index, text in enumerate(said):
                await say(socket, f"item_{index}", text)
            await send(socket, {"type": "response.create"})
            seen: list[dict[str, Any]] = []
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    seen.append(json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT)))
            return seen, socket.close_code

    seen, close_code = asyncio.run(running_out())
    kinds = [event["type"] for event in seen]
    low = seen[kinds.index("voxgate.session.credit_low")]
    # Told before the response that uses the credit up runs, then closed as before.
    assert kinds.index("voxgate.session.credit_low") < kinds.index("response.created")
    assert kinds[-1] == "error" and seen[-1]["error"]["code"] == "insufficient_credit"
    assert close_code == 1008
    assert low["available_micro_usd"] == int(Decimal(credit) * 1_000_000)
    assert low["available_micro_usd"] < 2 * low["next_response_micro_usd"]
    assert low["responses_left"] == low["available_micro_usd"] // low["next_response_micro_usd"]


def test_an_operator_sets_a_keys_caps_by_the_admin_api_and_the_command_line(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    name = f"caps-admin-{secrets.token_hex(4)}"
    with gateway.admin() as admin:
        workspace = admin.post("/admin/v1/workspaces", json={"name": name, "credit_usd": "1"})
        workspace_id = workspace.json()["id"]
        created = admin.post(
            f"/admin/v1/workspaces/{workspace_id}/keys",
            json={"name": "caps", "max_session_cost_usd": "0.25", "cap_policy": "trim"},
        )
        assert created.status_code == 201, created.text
        key_id, secret = created.json()["id"], created.json()["secret"]
        path = f"/admin/v1/workspaces/{workspace_id}/keys/{key_id}"
        limits = admin.get(path).json()
        assert limits["max_session_cost_micro_usd"] == 250_000
        assert limits["max_session_cost_usd"] == "0.250000"
        assert limits["max_response_cost_usd"] is None
        assert limits["cap_policy"] == "trim"
        bad = admin.patch(path, json={"max_response_cost_usd": "0.0000001"})
        assert bad.status_code == 400
        assert "max_response_cost_usd" in bad.text
    env = {name: value for name, value in os.environ.items() if not name.startswith("VOXGATE_")}
    env["VOXGATE_DATA_DIR"] = str(gateway.data_dir)
    command = [sys.executable, "-m", "voxgate", "keys", "caps", workspace_id, key_id]
    options = ["--max-response-cost-usd", "0.000001", "--cap-policy", "refuse"]
    done = subprocess.run(
        command + options, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    with gateway.admin() as admin:
        limits = admin.get(path).json()
    assert limits["max_response_cost_micro_usd"] == 1
    assert limits["max_session_cost_micro_usd"] is None  # a cap left out is lifted

    async def refused() -> dict[str, Any]:
        async with connect(gateway, secret, "gpt-audio-1.5") as socket:
            await manual_text_session(socket)
            await say(socket, "item_question", "What is the capital of France?")
            await send(socket, {"type": "response.create"})
            return await until(socket, "error", "response.created")

    assert asyncio.run(refused())["error"]["code"] == "response_budget_exceeded"


@pytest.mark.parametrize("model", MODELS)
def test_a_minted_secret_carries_caps_its_browser_cannot_raise(
    served: tuple[RunningGateway, RunningSimulator], model: str
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(
        f"caps-mint-{secrets.token_hex(4)}", "1.00", max_response_cost_usd="0.50"
    )
    session = {"type": "realtime", "model": model}
    with gateway.client(key) as client:
        raised = client.post(
            "/v1/realtime/client_secrets",
            json={"session": session | {"voxgate": {"max_response_cost_usd": "0.60"}}},
        )
        assert raised.status_code == 400, raised.text
        assert raised.json()["error"]["param"] == "session.voxgate.max_response_cost_usd"
        minted = client.post(
            "/v1/realtime/client_secrets",
            json={"session": session | {"voxgate": {"max_response_cost_usd": "0.000001"}}},
        )
        assert minted.status_code == 200, minted.text
    secret = minted.json()["value"]

    async def refused() -> dict[str, Any]:
        async with connect(gateway, secret, model) as socket:
            await manual_text_session(socket)
            await say(socket, "item_question", "What is the capital of France?")
            await send(socket, {"type": "response.create"})
            return await until(socket, "error", "response.created")

    error = asyncio.run(refused())
    assert error["type"] == "error", error
    assert error["error"]["code"] == "response_budget_exceeded"
