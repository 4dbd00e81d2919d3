"""Money over real sockets: every request paid for once, at the catalog price, or not at all."""

import secrets
import threading
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningGateway

TEXT = "A sentence of exactly known length, billed per character."


def balance(gateway: RunningGateway, key: str) -> dict[str, Any]:
    with gateway.client(key) as client:
        response = client.get("/api/v1/balance")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def speak(gateway: RunningGateway, key: str, text: str = TEXT, **headers: str) -> httpx.Response:
    with gateway.client(key) as client:
        return client.post(
            "/api/v1/audio",
            json={"model": "local-tts", "input": text, "response_format": "pcm16"},
            headers=headers,
        )


@pytest.fixture
def key(gateway: RunningGateway) -> str:
    return gateway.new_workspace(f"billing-{secrets.token_hex(4)}", "1.00")


def test_a_request_is_charged_its_exact_cost_once(gateway: RunningGateway, key: str) -> None:
    before = balance(gateway, key)
    response = speak(gateway, key)
    assert response.status_code == 200
    cost = response.json()["usage"]["cost_micro_usd"]
    assert cost == len(TEXT)  # $1.00 per 1M characters
    after = balance(gateway, key)
    assert after["balance_micro_usd"] == before["balance_micro_usd"] - cost
    assert after["held_micro_usd"] == 0
    with gateway.client(key) as client:
        record = client.get(f"/api/v1/usage/{response.headers['x-request-id']}").json()
    assert record["status"] == "succeeded"
    assert record["cost_micro_usd"] == cost
    assert record["hold_micro_usd"] == 100  # the model's minimum hold, above the cost
    assert record["route"] == "local/piper"
    assert [a["status"] for a in record["attempts"]] == ["ok"]
    assert record["input_characters"] == len(TEXT)
    assert record["audio_milliseconds"] > 1000


def test_bad_input_changes_nothing_but_leaves_a_record(gateway: RunningGateway, key: str) -> None:
    before = balance(gateway, key)
    with gateway.client(key) as client:
        bad = client.post("/api/v1/audio", json={"model": "local-tts", "input": "hi", "speed": 9})
        assert bad.status_code == 400
        record = client.get(f"/api/v1/usage/{bad.headers['x-request-id']}").json()
    assert balance(gateway, key) == before
    assert (record["status"], record["http_status"], record["cost_micro_usd"]) == (
        "rejected",
        400,
        0,
    )


def test_not_enough_credit_is_402_and_calls_nothing(gateway: RunningGateway) -> None:
    key = gateway.new_workspace(f"poor-{secrets.token_hex(4)}", "0.000050")
    response = speak(gateway, key)
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_credit")
    assert "0.000100" in error["message"] and "0.000050" in error["message"]
    assert balance(gateway, key)["balance_micro_usd"] == 50


def test_an_idempotency_key_charges_once_and_replays(gateway: RunningGateway, key: str) -> None:
    before = balance(gateway, key)["balance_micro_usd"]
    first = speak(gateway, key, **{"Idempotency-Key": "order-17"})
    again = speak(gateway, key, **{"Idempotency-Key": "order-17"})
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert balance(gateway, key)["balance_micro_usd"] == before - len(TEXT)
    other = speak(gateway, key, text="Another text.", **{"Idempotency-Key": "order-17"})
    assert other.status_code == 400
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_requests_per_minute_limit(gateway: RunningGateway) -> None:
    key = gateway.new_workspace(f"rpm-{secrets.token_hex(4)}", "1.00", rpm_limit=2)
    statuses = [speak(gateway, key, "Hi.").status_code for _ in range(3)]
    assert statuses[:2] == [200, 200]
    third = speak(gateway, key, "Hi.")
    assert third.status_code == 429
    assert 1 <= int(third.headers["retry-after"]) <= 60
    assert third.json()["error"]["type"] == "rate_limit_error"


def test_concurrency_limit(gateway: RunningGateway) -> None:
    key = gateway.new_workspace(f"conc-{secrets.token_hex(4)}", "1.00", concurrency_limit=1)
    long_text = "This sentence keeps the engine busy for a while. " * 12
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(speak(gateway, key, long_text).status_code))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results)[0] == 200
    assert 429 in results


def test_workspaces_see_only_their_own(gateway: RunningGateway, key: str) -> None:
    other = gateway.new_workspace(f"other-{secrets.token_hex(4)}", "1.00")
    mine = speak(gateway, key)
    request_id = mine.headers["x-request-id"]
    with gateway.client(other) as client:
        assert client.get(f"/api/v1/usage/{request_id}").status_code == 404
        assert request_id not in client.get("/api/v1/usage").text
        assert balance(gateway, other)["workspace_id"] != balance(gateway, key)["workspace_id"]
        theirs = {k["id"] for k in client.get("/api/v1/keys").json()["data"]}
    with gateway.client(key) as client:
        own = {k["id"] for k in client.get("/api/v1/keys").json()["data"]}
    assert theirs.isdisjoint(own)


def test_usage_pages_filters_and_csv(gateway: RunningGateway, key: str) -> None:
    ids = [speak(gateway, key, f"Sentence number {i}.").headers["x-request-id"] for i in range(3)]
    seen: list[str] = []
    cursor = None
    with gateway.client(key) as client:
        while True:
            params = {"limit": 2, "model": "local-tts", **({"after": cursor} if cursor else {})}
            page = client.get("/api/v1/usage", params=params).json()
            seen += [row["request_id"] for row in page["data"]]
            cursor = page["next"]
            if cursor is None:
                break
        csv_text = client.get("/api/v1/usage", params={"format": "csv"}).text
        assert (
            client.get("/api/v1/usage", params={"model": "local-whisper-base"}).json()["data"] == []
        )
        assert client.get("/api/v1/usage", params={"limit": 0}).status_code == 400
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen))
    assert csv_text.splitlines()[0].startswith("request_id,")
    assert all(request_id in csv_text for request_id in ids)


def test_the_admin_api_needs_its_token(gateway: RunningGateway) -> None:
    with gateway.client("not-the-token") as client:
        response = client.get("/admin/v1/workspaces")
    assert response.status_code == 401
    with gateway.client() as client:  # a workspace key is not an admin token either
        assert client.get("/admin/v1/workspaces").status_code == 401


def test_admin_credit_changes_are_ledger_entries(gateway: RunningGateway) -> None:
    with gateway.admin() as admin:
        workspace = admin.post(
            "/admin/v1/workspaces", json={"name": f"ledger-{secrets.token_hex(4)}"}
        ).json()
        path = f"/admin/v1/workspaces/{workspace['id']}/credit"
        assert (
            admin.post(path, json={"amount_usd": "2.50", "reason": "top-up"}).json()["balance_usd"]
            == "2.500000"
        )
        assert (
            admin.post(path, json={"amount_usd": "-0.50", "reason": "fix"}).json()["balance_usd"]
            == "2.000000"
        )
        overdraw = admin.post(path, json={"amount_usd": "-5", "reason": "too much"})
        assert overdraw.status_code == 400
        missing = admin.post(path, json={"amount_usd": "1"})
        assert (missing.status_code, missing.json()["error"]["param"]) == (400, "reason")
