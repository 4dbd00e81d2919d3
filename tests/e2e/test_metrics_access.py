"""/metrics is not public: without a token it answers clients on the gateway's host only; with
VOXGATE_METRICS_TOKEN, the bearer of that token from anywhere."""

from pathlib import Path

import httpx

from tests.gateway_process import start_gateway, stop_gateway

REMOTE = {"X-Forwarded-For": "203.0.113.5"}  # through the trusted proxy, a distant client


def test_without_a_token_only_this_host_reads_the_metrics(tmp_path: Path) -> None:
    env = {"VOXGATE_ENGINE_PRELOAD": "false", "VOXGATE_TRUSTED_PROXIES": "127.0.0.1"}
    process, gateway = start_gateway(tmp_path, env)
    try:
        local = httpx.get(f"{gateway.base_url}/metrics")
        remote = httpx.get(f"{gateway.base_url}/metrics", headers=REMOTE)
    finally:
        stop_gateway(process)
    assert local.status_code == 200 and "voxgate_holds_open" in local.text
    assert remote.status_code == 403, remote.text
    error = remote.json()["error"]
    assert error["code"] == "metrics_forbidden" and "VOXGATE_METRICS_TOKEN" in error["message"]
    assert "voxgate_" not in remote.text


def test_with_a_token_its_bearer_reads_the_metrics_from_anywhere(tmp_path: Path) -> None:
    env = {
        "VOXGATE_ENGINE_PRELOAD": "false",
        "VOXGATE_TRUSTED_PROXIES": "127.0.0.1",
        "VOXGATE_METRICS_TOKEN": "scrape-secret",
    }
    process, gateway = start_gateway(tmp_path, env)
    try:
        url = f"{gateway.base_url}/metrics"
        missing = httpx.get(url)
        wrong = httpx.get(url, headers={"Authorization": "Bearer guess"})
        right = httpx.get(url, headers={**REMOTE, "Authorization": "Bearer scrape-secret"})
    finally:
        stop_gateway(process)
    assert missing.status_code == wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_metrics_token"
    assert right.status_code == 200 and "voxgate_holds_open" in right.text
