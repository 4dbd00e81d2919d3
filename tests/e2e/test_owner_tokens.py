"""Roles: the operator's admin token manages everything; a workspace owner's token manages its
own workspace's keys, budgets and usage, and nothing of another workspace or of the operator."""

import secrets

import httpx

from tests.e2e.conftest import RunningGateway


def make_workspace(gateway: RunningGateway, prefix: str) -> str:
    with gateway.admin() as admin:
        created = admin.post(
            "/admin/v1/workspaces",
            json={"name": f"{prefix}-{secrets.token_hex(4)}", "credit_usd": "1"},
        )
        assert created.status_code == 201, created.text
        workspace_id: str = created.json()["id"]
        return workspace_id


def owner(gateway: RunningGateway, token: str) -> httpx.Client:
    return gateway.client(token)


def test_an_owner_manages_its_own_workspace_and_nothing_else(gateway: RunningGateway) -> None:
    mine, theirs = make_workspace(gateway, "owned"), make_workspace(gateway, "other")
    with gateway.admin() as admin:
        made = admin.post(f"/admin/v1/workspaces/{mine}/owner_tokens", json={"name": "alice"})
        assert made.status_code == 201, made.text
        token = made.json()["secret"]
        assert token.startswith("vg_owner_")
        listed = admin.get(f"/admin/v1/workspaces/{mine}/owner_tokens").json()["data"]
        assert [t["name"] for t in listed] == ["alice"] and "secret" not in listed[0]
    with owner(gateway, token) as client:
        # Its own workspace: keys, budgets, usage.
        assert [w["id"] for w in client.get("/admin/v1/workspaces").json()["data"]] == [mine]
        key = client.post(f"/admin/v1/workspaces/{mine}/keys", json={"name": "app"})
        assert key.status_code == 201, key.text
        budget = client.post(
            f"/admin/v1/workspaces/{mine}/budgets", json={"period": "day", "request_limit": 9}
        )
        assert budget.status_code == 201, budget.text
        assert client.get(f"/admin/v1/workspaces/{mine}/usage").status_code == 200
        # Another workspace is not found, whatever the path.
        for path in ("", "/keys", "/budgets", "/usage"):
            refused = client.get(f"/admin/v1/workspaces/{theirs}{path}")
            assert refused.status_code == 404, (path, refused.text)
        refused = client.post(f"/admin/v1/workspaces/{theirs}/keys", json={"name": "x"})
        assert refused.status_code == 404
        # What only the operator does.
        for method, path, body in (
            ("POST", "/admin/v1/workspaces", {"name": "mine-too"}),
            ("POST", f"/admin/v1/workspaces/{mine}/credit", {"amount_usd": "5", "reason": "x"}),
            ("GET", "/admin/v1/margins", None),
            ("GET", "/admin/v1/webhooks", None),
            ("POST", f"/admin/v1/workspaces/{mine}/owner_tokens", {"name": "bob"}),
        ):
            answer = client.request(method, path, json=body)
            assert answer.status_code == 403, (path, answer.text)
            assert answer.json()["error"]["type"] == "permission_error"
    with gateway.admin() as admin:
        [made_token] = admin.get(f"/admin/v1/workspaces/{mine}/owner_tokens").json()["data"]
        revoke = f"/admin/v1/workspaces/{mine}/owner_tokens/{made_token['id']}/revoke"
        assert admin.post(revoke).status_code == 200
    with owner(gateway, token) as client:
        assert client.get("/admin/v1/workspaces").status_code == 401


def test_a_workspace_api_key_is_not_an_admin_token(gateway: RunningGateway) -> None:
    key = gateway.new_workspace(f"keyed-{secrets.token_hex(4)}", "1")
    with gateway.client(key) as client:
        assert client.get("/admin/v1/workspaces").status_code == 401
