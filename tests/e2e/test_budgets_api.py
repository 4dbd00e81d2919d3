"""Budgets through the admin API on a real gateway: set, read with the current period's use,
enforced on the next request with a code naming the budget, changed, and lifted."""

import os
import secrets
import subprocess
import sys

from tests.e2e.conftest import RunningGateway

SPEECH = {"model": "local-tts", "input": "Hi.", "response_format": "pcm16"}


def test_a_daily_request_budget_is_set_read_enforced_changed_and_lifted(
    gateway: RunningGateway,
) -> None:
    key = gateway.new_workspace(f"budget-{secrets.token_hex(4)}", "1.00")
    with gateway.client(key) as client:
        workspace_id = client.get("/api/v1/balance").json()["workspace_id"]
    path = f"/admin/v1/workspaces/{workspace_id}/budgets"
    with gateway.admin() as admin:
        refused = admin.post(path, json={"period": "day"})
        assert refused.status_code == 400, refused.text
        created = admin.post(path, json={"period": "day", "request_limit": 1})
        assert created.status_code == 201, created.text
        budget = created.json()
    with gateway.client(key) as client:
        assert client.post("/api/v1/audio", json=SPEECH).status_code == 200
        over = client.post("/api/v1/audio", json=SPEECH)
    assert over.status_code == 429, over.text
    assert over.json()["error"]["code"] == "daily_request_budget_exceeded"
    assert int(over.headers["retry-after"]) > 0
    with gateway.admin() as admin:
        [listed] = admin.get(path).json()["data"]
        assert listed["current_period"]["requests"] == 1
        assert listed["current_period"]["spent_micro_usd"] > 0
        changed = admin.patch(f"{path}/{budget['id']}", json={"request_limit": 5})
        assert changed.status_code == 200 and changed.json()["request_limit"] == 5
    with gateway.client(key) as client:
        assert client.post("/api/v1/audio", json=SPEECH).status_code == 200
    with gateway.admin() as admin:
        assert admin.delete(f"{path}/{budget['id']}").status_code == 200
        assert admin.get(path).json()["data"] == []
        assert admin.delete(f"{path}/{budget['id']}").status_code == 404


def test_a_budget_for_another_workspaces_key_is_refused(gateway: RunningGateway) -> None:
    gateway.new_workspace(f"mine-{secrets.token_hex(4)}", "1.00")
    with gateway.admin() as admin:
        workspaces = admin.get("/admin/v1/workspaces").json()["data"]
        first, second = workspaces[0]["id"], workspaces[-1]["id"]
        [key] = admin.get(f"/admin/v1/workspaces/{second}/keys").json()["data"][:1]
        refused = admin.post(
            f"/admin/v1/workspaces/{first}/budgets",
            json={"period": "month", "spend_limit_usd": "1", "key_id": key["id"]},
        )
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["param"] == "key_id"


def test_a_keys_limits_and_spend_are_read_and_changed(gateway: RunningGateway) -> None:
    key = gateway.new_workspace(f"limits-{secrets.token_hex(4)}", "1.00", spend_limit_usd="0.5")
    with gateway.client(key) as client:
        workspace_id = client.get("/api/v1/balance").json()["workspace_id"]
        assert client.post("/api/v1/audio", json=SPEECH).status_code == 200
    with gateway.admin() as admin:
        [listed] = admin.get(f"/admin/v1/workspaces/{workspace_id}/keys").json()["data"]
        path = f"/admin/v1/workspaces/{workspace_id}/keys/{listed['id']}"
        limits = admin.get(path).json()
        assert limits["spend_limit_usd"] == "0.500000"
        assert limits["spent_micro_usd"] > 0 and limits["held_micro_usd"] == 0
        changed = admin.patch(path, json={"spend_limit_usd": "0.000001", "rpm_limit": 60})
        assert changed.status_code == 200, changed.text
        assert (changed.json()["spend_limit_micro_usd"], changed.json()["rpm_limit"]) == (1, 60)
        assert admin.get(f"/admin/v1/workspaces/{workspace_id}/keys/key_nope").status_code == 404
    with gateway.client(key) as client:
        over = client.post("/api/v1/audio", json=SPEECH)
    assert over.status_code == 402, over.text
    assert over.json()["error"]["code"] == "key_spend_limit_reached"


def test_the_cli_sets_lists_and_removes_a_budget(gateway: RunningGateway) -> None:
    name = f"cli-budget-{secrets.token_hex(4)}"
    gateway.new_workspace(name, "1.00")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_")},
        "VOXGATE_DATA_DIR": str(gateway.data_dir),
    }

    def voxgate(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "voxgate", "budgets", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout

    budget_id = voxgate("set", name, "--period", "month", "--spend-usd", "2.5").strip()
    assert budget_id.startswith("budget_")
    [line] = voxgate("list", name).splitlines()
    assert line.startswith(f"{budget_id}  month  key=-  spend 0.000000/2.500000")
    assert voxgate("remove", name, budget_id).strip() == f"{budget_id} removed"
    assert voxgate("list", name) == ""


def test_balances_and_budget_use_are_gauges_in_metrics(gateway: RunningGateway) -> None:
    name = f"gauged-{secrets.token_hex(4)}"
    key = gateway.new_workspace(name, "0.25")
    with gateway.client(key) as client:
        workspace_id = client.get("/api/v1/balance").json()["workspace_id"]
    with gateway.admin() as admin:
        admin.post(
            f"/admin/v1/workspaces/{workspace_id}/budgets",
            json={"period": "day", "spend_limit_usd": "0.000100"},
        )
    with gateway.client(key) as client:
        assert client.post("/api/v1/audio", json=SPEECH).status_code == 200
        balance = client.get("/api/v1/balance").json()["balance_micro_usd"]
    with gateway.admin() as admin:
        exposition = admin.get("/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line and not line.startswith("#") and f'workspace="{name}"' in line
    }
    assert samples[f'voxgate_balance_micro_usd{{workspace="{name}"}}'] == balance
    [(series, ratio)] = [(s, v) for s, v in samples.items() if "budget_use_ratio" in s]
    assert 'period="day"' in series
    assert ratio == (250_000 - balance) / 100
