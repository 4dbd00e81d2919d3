"""Workspace isolation on every endpoint: one workspace's key can neither see nor change
another's usage, balance, keys, idempotent replays or admin data.

Every route the app serves is classified below; a new route fails the first test until it is
given a class and, if it touches workspace data, an isolation check here.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route, WebSocketRoute

from tests.gateway_process import ADMIN_TOKEN, RunningGateway, routed_gateway, written_text
from voxgate.app import create_app

SPEECH = {"model": "gpt-4o-mini-tts", "input": "Mine.", "response_format": "pcm16"}
CHAT = {"model": "gpt-audio", "messages": [{"role": "user", "content": "Mine."}]}

# Public: the catalog, health, docs and the OpenAPI document carry no workspace data.
PUBLIC = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/api/v1/models",
    "/api/v1/models/{model_id}",
    "/v1/models",
    "/v1/models/{model_id:path}",
    "/docs/models",
    "/docs/models/{model_id}",
    "/{lang:str}/docs/models",
    "/{lang:str}/docs/models/{model_id}",
    "/docs/static",
}
# Calls that bill the caller's own workspace; checked through usage, balance and idempotency.
BILLED = {
    "/api/v1/audio",
    "/v1/audio/speech",
    "/v1/audio/transcriptions",
    "/v1/audio/translations",
    "/v1/chat/completions",
    "/v1/realtime/client_secrets",
    "/v1/realtime/sessions",
    "/v1/realtime/transcription_sessions",
    "/v1/realtime",
    "/v1/realtime/calls",
}
# Reads of the caller's own workspace, and its own WebRTC calls (another's call id is a 404).
OWN = {
    "/api/v1/usage",
    "/api/v1/usage/{request_id}",
    "/api/v1/balance",
    "/api/v1/keys",
    "/v1/realtime/calls/{call_id}/hangup",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with routed_gateway(tmp_path_factory.mktemp("isolation")) as (running, _):
        yield running


@pytest.fixture(scope="module")
def keys(gateway: RunningGateway) -> tuple[str, str]:
    return gateway.new_workspace("alice", "5.00"), gateway.new_workspace("bob", "5.00")


def test_every_route_is_classified(tmp_path: Path) -> None:
    app = create_app()
    paths = {
        route.path for route in app.routes if isinstance(route, Route | WebSocketRoute | Mount)
    }
    admin = {path for path in paths if path.startswith("/admin/")}
    # The web console's pages: their isolation is checked in test_console_browser.py.
    console = {path for path in paths if path.startswith("/console")}
    assert paths - admin - console == PUBLIC | BILLED | OWN
    assert admin, "the admin API is part of the app"


def spend(gateway: RunningGateway, key: str, idempotency_key: str | None = None) -> str:
    return spend_with_answer(gateway, key, idempotency_key).headers["x-request-id"]


def spend_with_answer(
    gateway: RunningGateway, key: str, idempotency_key: str | None = None
) -> httpx.Response:
    headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json=SPEECH, headers=headers)
    assert response.status_code == 200, response.text
    return response


def test_usage_is_listed_and_read_only_by_its_own_workspace(
    gateway: RunningGateway, keys: tuple[str, str]
) -> None:
    alice, bob = keys
    request_id = spend(gateway, alice)
    with gateway.client(bob) as client:
        listed = client.get("/api/v1/usage", params={"limit": 100}).json()["data"]
        assert request_id not in {record["request_id"] for record in listed}
        assert client.get(f"/api/v1/usage/{request_id}").status_code == 404
    with gateway.client(alice) as client:
        assert client.get(f"/api/v1/usage/{request_id}").status_code == 200


def test_balance_shows_only_the_callers_own_spending(
    gateway: RunningGateway, keys: tuple[str, str]
) -> None:
    alice, bob = keys

    def balance(key: str) -> dict[str, object]:
        with gateway.client(key) as client:
            body: dict[str, object] = client.get("/api/v1/balance").json()
        return body

    bob_before = balance(bob)
    alice_before = balance(alice)
    spend(gateway, alice)
    assert balance(bob) == bob_before
    assert balance(alice)["balance_micro_usd"] < alice_before["balance_micro_usd"]  # type: ignore[operator]
    assert balance(alice)["workspace_id"] != bob_before["workspace_id"]


def test_keys_are_listed_only_to_their_own_workspace(
    gateway: RunningGateway, keys: tuple[str, str]
) -> None:
    alice, bob = keys
    with gateway.client(alice) as client:
        alice_keys = {key["id"] for key in client.get("/api/v1/keys").json()["data"]}
    with gateway.client(bob) as client:
        bob_keys = {key["id"] for key in client.get("/api/v1/keys").json()["data"]}
    assert alice_keys and bob_keys and not alice_keys & bob_keys


def test_an_idempotency_key_replays_only_within_its_workspace(
    gateway: RunningGateway, keys: tuple[str, str]
) -> None:
    alice, bob = keys
    first = spend(gateway, alice, "shared-idempotency-key")
    replay = spend_with_answer(gateway, alice, "shared-idempotency-key")
    assert replay.headers.get("idempotent-replayed") == "true"  # alice gets her answer back
    bobs_answer = spend_with_answer(gateway, bob, "shared-idempotency-key")
    assert "idempotent-replayed" not in bobs_answer.headers  # bob's request ran, and is bob's
    bobs = bobs_answer.headers["x-request-id"]
    with gateway.client(bob) as client:
        assert client.get(f"/api/v1/usage/{bobs}").status_code == 200
        assert client.get(f"/api/v1/usage/{first}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/admin/v1/workspaces"),
        ("GET", "/admin/v1/workspaces"),
        ("GET", "/admin/v1/workspaces/{workspace}"),
        ("POST", "/admin/v1/workspaces/{workspace}/credit"),
        ("POST", "/admin/v1/workspaces/{workspace}/keys"),
        ("GET", "/admin/v1/workspaces/{workspace}/keys"),
        ("POST", "/admin/v1/workspaces/{workspace}/keys/key_x/revoke"),
        ("GET", "/admin/v1/workspaces/{workspace}/usage"),
    ],
)
def test_the_admin_api_refuses_workspace_keys(
    gateway: RunningGateway, keys: tuple[str, str], method: str, path: str
) -> None:
    alice, bob = keys
    with gateway.client(alice) as client:
        workspace = client.get("/api/v1/balance").json()["workspace_id"]
    url = path.format(workspace=workspace)
    body = {"name": "x", "credit_usd": "1.00", "amount_usd": "1.00", "reason": "x"}
    for key in (alice, bob):
        with gateway.client(key) as client:
            response = client.request(method, url, json=body if method == "POST" else None)
        assert response.status_code in (401, 403), (url, response.text)
        assert response.json()["error"]["type"] == "authentication_error"
    with httpx.Client(base_url=gateway.base_url, timeout=30) as anonymous:
        assert anonymous.request(method, url).status_code in (401, 403)
    with gateway.client(ADMIN_TOKEN) as admin:
        assert admin.get(f"/admin/v1/workspaces/{workspace}").status_code == 200


def test_chat_bills_the_callers_workspace_only(
    gateway: RunningGateway, keys: tuple[str, str]
) -> None:
    alice, bob = keys
    with gateway.client(bob) as client:
        bob_before = client.get("/api/v1/balance").json()["balance_micro_usd"]
    with gateway.client(alice) as client:
        response = client.post("/v1/chat/completions", json=CHAT)
        assert response.status_code == 200, response.text
    with gateway.client(bob) as client:
        assert client.get("/api/v1/balance").json()["balance_micro_usd"] == bob_before


def test_a_minted_realtime_secret_stays_out_of_logs_and_other_workspaces(
    gateway: RunningGateway, keys: tuple[str, str]
) -> None:
    alice, bob = keys
    body = {"session": {"type": "realtime", "model": "gpt-audio-1.5"}}
    with gateway.client(alice) as client:
        minted = client.post("/v1/realtime/client_secrets", json=body)
    assert minted.status_code == 200, minted.text
    secret = minted.json()["value"]
    assert secret.startswith("ek_")
    with gateway.client(secret) as client:  # a minted secret is no workspace key
        assert client.get("/api/v1/balance").status_code == 401
    log = written_text(gateway.output).split("serving on", 1)[1]
    for value in (secret, alice, bob):
        assert value not in log
