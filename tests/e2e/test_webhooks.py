"""Alerts reach the operator's webhooks, signed, retried until delivered, and logged: a balance
that falls below what a webhook watches, and a budget at 80% and 100% of its spend."""

import hashlib
import hmac
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.gateway_process import RunningGateway, start_gateway, stop_gateway

# 120 characters of local-tts at $1.00 per 1M characters: 120 micro-USD each.
TEXT = ("Every request in this test costs the same. " * 3)[:120]
SPEECH = {"model": "local-tts", "input": TEXT, "response_format": "pcm16"}
PRICE = 120


class Receiver:
    """A webhook endpoint on a loopback port that answers 500 to its first `failing` calls."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.failing = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if receiver.failing > 0:
                    receiver.failing -= 1
                    self.send_response(500)
                else:
                    receiver.received.put((dict(self.headers.items()), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 60) -> tuple[dict[str, str], bytes]:
        return self.received.get(timeout=timeout)


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, Receiver]]:
    receiver = Receiver()
    env = {
        "VOXGATE_WEBHOOK_INTERVAL_SECONDS": "0.1",
        "VOXGATE_WEBHOOK_FIRST_BACKOFF_SECONDS": "0.1",
    }
    process, gateway = start_gateway(Path(tmp_path_factory.mktemp("webhooks")), env)
    yield gateway, receiver
    stop_gateway(process)
    receiver.server.shutdown()


def verified(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The alert, once its signature is checked as a receiver would (and its time is fresh)."""
    fields = dict(part.split("=", 1) for part in headers["voxgate-signature"].split(","))
    expected = hmac.new(
        secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert abs(time.time() - int(fields["t"])) < 300
    alert: dict[str, Any] = orjson.loads(body)
    return alert


def workspace(gateway: RunningGateway, credit: str) -> tuple[str, str]:
    key = gateway.new_workspace(f"alerts-{secrets.token_hex(4)}", credit)
    with gateway.client(key) as client:
        return client.get("/api/v1/balance").json()["workspace_id"], key


def subscribe(gateway: RunningGateway, **body: Any) -> dict[str, Any]:
    with gateway.admin() as admin:
        created = admin.post("/admin/v1/webhooks", json=body)
        assert created.status_code == 201, created.text
        webhook: dict[str, Any] = created.json()
        return webhook


def test_a_balance_falling_below_the_watched_amount_is_alerted_once_and_signed(
    alerting: tuple[RunningGateway, Receiver],
) -> None:
    gateway, receiver = alerting
    workspace_id, key = workspace(gateway, "0.0005")  # 500 micro-USD: four requests
    webhook = subscribe(
        gateway,
        url=receiver.url,
        events=["balance.low"],
        workspace_id=workspace_id,
        balance_below_usd="0.0003",
    )
    with gateway.client(key) as client:
        for _ in range(3):  # 500 → 380 → 260 (crossed 300) → 140
            assert client.post("/api/v1/audio", json=SPEECH).status_code == 200
    headers, body = receiver.next()
    alert = verified(webhook["secret"], headers, body)
    assert (alert["type"], alert["workspace_id"]) == ("balance.low", workspace_id)
    assert alert["balance_micro_usd"] == 500 - 2 * PRICE
    with pytest.raises(queue.Empty):
        receiver.received.get(timeout=1)  # once, not for every charge below it
    with gateway.admin() as admin:
        assert admin.delete(f"/admin/v1/webhooks/{webhook['id']}").status_code == 200
        listed = admin.get("/admin/v1/webhooks").json()["data"]
    assert "secret" not in str(listed)


def test_a_budget_is_alerted_at_80_and_100_percent_after_retries(
    alerting: tuple[RunningGateway, Receiver],
) -> None:
    gateway, receiver = alerting
    workspace_id, key = workspace(gateway, "1.00")
    with gateway.admin() as admin:
        budget = admin.post(
            f"/admin/v1/workspaces/{workspace_id}/budgets",
            json={"period": "month", "spend_limit_usd": "0.000240"},
        ).json()
    webhook = subscribe(
        gateway, url=receiver.url, events=["budget.threshold"], workspace_id=workspace_id
    )
    receiver.failing = 2  # two attempts fail before any delivery is taken
    with gateway.client(key) as client:
        assert client.post("/api/v1/audio", json=SPEECH).status_code == 200  # 50%
        assert client.post("/api/v1/audio", json=SPEECH).status_code == 200  # past 80, at 100
        refused = client.post("/api/v1/audio", json=SPEECH)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "monthly_spend_budget_exceeded"
    alerts = [verified(webhook["secret"], *receiver.next()) for _ in range(2)]
    assert sorted(alert["percent"] for alert in alerts) == [80, 100]
    assert {(alert["type"], alert["budget_id"]) for alert in alerts} == {
        ("budget.threshold", budget["id"])
    }
    with gateway.admin() as admin:
        deliveries = admin.get(f"/admin/v1/webhooks/{webhook['id']}/deliveries").json()["data"]
    assert [d["status"] for d in deliveries] == ["delivered", "delivered"]
    # Every attempt is counted: the two that failed and the two that were taken.
    assert sum(d["attempts"] for d in deliveries) == 4
