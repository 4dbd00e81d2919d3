"""Real clients nobody here wrote, each run in its own environment against one gateway.

The Python frameworks live in .venv-clients and the openai npm package in node/node_modules
(both made by scripts/clients-setup); each client runs as a subprocess that talks to the
gateway over a loopback socket and prints what it got as one JSON line.
"""

import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.audio_probe import word_error_rate
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway
from voxgate.simulator.engine import FAST_TRANSCRIPT

ROOT = Path(__file__).resolve().parents[2]
CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
SCRIPTS = Path(__file__).parent / "scripts"
NODE_DIR = Path(__file__).parent / "node"
SENTENCE = "Please send the quarterly report to the finance team by Friday."
CLIENT_SECONDS = 120


@dataclass(frozen=True)
class Served:
    gateway: RunningGateway
    simulator: RunningSimulator
    key: str
    wav_path: Path

    def settings(self) -> dict[str, Any]:
        return {
            "base_url": f"{self.gateway.base_url}/v1",
            "api_key": self.key,
            "wav_path": str(self.wav_path),
            "sentence": SENTENCE,
        }


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A gateway on a fast simulator (a tone for any speech, a fixed transcript), a workspace
    key, and a WAV of SENTENCE spoken by the gateway's own engine."""
    root = tmp_path_factory.mktemp("clients")
    with routed_gateway(root) as (gateway, sim):
        key = gateway.new_workspace(f"clients-{secrets.token_hex(4)}", "5.00")
        wav_path = root / "sentence.wav"
        spoken = httpx.post(
            f"{gateway.base_url}/v1/audio/speech",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "model": "local-tts",
                "voice": "alloy",
                "input": SENTENCE,
                "response_format": "wav",
            },
            timeout=CLIENT_SECONDS,
        )
        assert spoken.status_code == 200, spoken.text
        wav_path.write_bytes(spoken.content)
        yield Served(gateway, sim, key, wav_path)


def run_client(argv: list[str], served: Served, cwd: Path) -> dict[str, Any]:
    """Run one client script; its last line of output is {call: {"ok": …} | {"error": …}}."""
    done = subprocess.run(
        argv,
        input=json.dumps(served.settings()),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=CLIENT_SECONDS,
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    results: dict[str, Any] = json.loads(lines[-1])
    return results


NODE = shutil.which("node")
# scripts/clients-setup writes each stamp once its install has finished.
needs_clients_venv = pytest.mark.skipif(
    not (ROOT / ".venv-clients" / ".installed").exists(),
    reason="no .venv-clients: scripts/clients-setup could not make it",
)
needs_node_sdk = pytest.mark.skipif(
    NODE is None or not (NODE_DIR / "node_modules" / ".installed").exists(),
    reason="no node or no openai npm package: scripts/clients-setup could not install it",
)


def run_python_client(script: str, served: Served) -> dict[str, Any]:
    return run_client([str(CLIENTS_PYTHON), str(SCRIPTS / script)], served, SCRIPTS)


def run_node_client(script: str, served: Served) -> dict[str, Any]:
    return run_client([str(NODE), script], served, NODE_DIR)


def succeeded(results: dict[str, Any], call: str) -> dict[str, Any]:
    """The call's answer, or a failure that shows what the client raised."""
    outcome = results[call]
    if "error" in outcome:
        error = outcome["error"]
        pytest.fail(f"{call}: the client raised {error['type']}: {error['message']}")
    answer: dict[str, Any] = outcome["ok"]
    return answer


def assert_heard(text: str) -> None:
    """What a route may answer for the WAV of SENTENCE: the simulator's fixed transcript
    (an OpenAI route) or the sentence itself (the gateway's own Whisper)."""
    assert text.strip() == FAST_TRANSCRIPT or word_error_rate(SENTENCE, text) <= 0.2, text
