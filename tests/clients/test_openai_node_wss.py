"""openai-node's realtime WebSocket client connects over `wss:`: `voxgate serve
--ssl-certfile/--ssl-keyfile` serves it directly, with a self-signed certificate made here that
the client is told to trust (NODE_EXTRA_CA_CERTS)."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.certificates import self_signed
from tests.clients.conftest import CLIENT_SECONDS, NODE, NODE_DIR, needs_node_sdk, succeeded
from tests.gateway_process import (
    ADMIN_TOKEN,
    STARTUP_SECONDS,
    exited_early,
    on_a_free_port,
    simulated_providers,
    start_simulator,
    stop_gateway,
)

pytestmark = needs_node_sdk


@dataclass(frozen=True)
class TlsGateway:
    base_url: str
    certificate: Path
    key: str


def wait_until_ready(
    process: subprocess.Popen[bytes], base_url: str, certificate: Path, output: Path
) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx.Client(verify=str(certificate)) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise exited_early(process, output.read_text())
            try:
                if client.get(f"{base_url}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the gateway did not become ready over TLS")


@pytest.fixture(scope="module")
def tls_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsGateway]:
    root = tmp_path_factory.mktemp("wss")
    certificate, private_key = self_signed(root)
    sim_process, sim = start_simulator(root / "sim", fast=True)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_")}
    env = inherited | simulated_providers(sim, VOXGATE_ENGINE_PRELOAD="false")
    env |= {"VOXGATE_DATA_DIR": str(root / "gateway"), "VOXGATE_ADMIN_TOKEN": ADMIN_TOKEN}

    def serve(port: int) -> tuple[subprocess.Popen[bytes], str]:
        command = [sys.executable, "-m", "voxgate", "serve", "--port", str(port)]
        command += ["--ssl-certfile", str(certificate), "--ssl-keyfile", str(private_key)]
        output = root / "gateway.log"
        with output.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        base_url = f"https://127.0.0.1:{port}"
        wait_until_ready(process, base_url, certificate, output)
        return process, base_url

    try:
        process, base_url = on_a_free_port(serve)
    except BaseException:
        stop_gateway(sim_process)
        raise
    try:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        with httpx.Client(base_url=base_url, verify=str(certificate), headers=headers) as admin:
            workspace = admin.post(
                "/admin/v1/workspaces", json={"name": "wss", "credit_usd": "1.00"}
            ).json()["id"]
            secret = admin.post(f"/admin/v1/workspaces/{workspace}/keys", json={"name": "wss"})
        yield TlsGateway(base_url, certificate, secret.json()["secret"])
    finally:
        stop_gateway(process)
        stop_gateway(sim_process)


def node_turn(gateway: TlsGateway, model: str) -> dict[str, Any]:
    settings = {"base_url": f"{gateway.base_url}/v1", "api_key": gateway.key, "model": model}
    done = subprocess.run(
        [str(NODE), "--experimental-websocket", "realtime_wss.mjs"],
        input=json.dumps(settings),
        capture_output=True,
        text=True,
        cwd=NODE_DIR,
        timeout=CLIENT_SECONDS,
        env=os.environ | {"NODE_EXTRA_CA_CERTS": str(gateway.certificate)},
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"{done.stdout}\n{done.stderr}"
    results: dict[str, Any] = json.loads(lines[-1])
    return results


def test_openai_node_realtime_holds_a_turn_over_wss(tls_gateway: TlsGateway) -> None:
    answer = succeeded(node_turn(tls_gateway, "gpt-audio-1.5"), "turn")
    assert answer["url"].startswith("wss://127.0.0.1:"), answer["url"]
    assert answer["status"] == "completed"
    assert "session.created" in answer["kinds"] and answer["kinds"][-1] == "response.done"
    assert answer["audio_bytes"] >= 24_000  # half a second of 24 kHz PCM16, or more
