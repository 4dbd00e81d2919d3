"""A real gateway process on a loopback port with its own data dir (tests and benchmarks)."""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

STARTUP_SECONDS = 60
# On stop, a test gateway's requests in flight get this long to finish (the default suits
# operators, not a suite whose teardowns leave streams and sockets open); a server still
# running this long after its grace is killed.
SHUTDOWN_GRACE_SECONDS = 2
STOP_MARGIN_SECONDS = 5
ADMIN_TOKEN = "test-admin-token"
FIRST_KEY = re.compile(r"API key: (vg_live_\S+)")
CURL_LINE = re.compile(r"^curl .*$", re.MULTILINE)
# A port picked free can be taken by another process before the server binds it: the server
# then exits saying so, and is started again on another port.
PORT_ATTEMPTS = 3
ADDRESS_IN_USE = "address already in use"
Started = TypeVar("Started")


@dataclass
class RunningGateway:
    base_url: str
    key: str
    curl_line: str
    data_dir: Path
    output: Path

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=120)

    def admin(self) -> httpx.Client:
        return self.client(ADMIN_TOKEN)

    def new_workspace(self, name: str, credit_usd: str, **key_options: object) -> str:
        """A workspace with its own key (the secret is returned)."""
        with self.admin() as admin:
            created = admin.post(
                "/admin/v1/workspaces", json={"name": name, "credit_usd": credit_usd}
            )
            assert created.status_code == 201, created.text
            workspace_id = created.json()["id"]
            key = admin.post(
                f"/admin/v1/workspaces/{workspace_id}/keys", json={"name": "test", **key_options}
            )
            assert key.status_code == 201, key.text
            secret: str = key.json()["secret"]
            return secret


def free_port() -> int:
    """A port free now; whoever binds it later may find it taken (see `PortTaken`)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PortTaken(RuntimeError):
    """A server exited because another process bound its port between the pick and the bind."""


def whole_lines(path: Path) -> list[str]:
    """The lines a process has finished writing to `path`: a last line without its newline is
    still being written (perhaps mid-character), and is left for the next read."""
    written = path.read_bytes()
    return written[: written.rfind(b"\n") + 1].decode().split("\n")[:-1]


def on_a_free_port(start: Callable[[int], Started]) -> Started:
    """`start(port)` on a port picked free, and again on another while the server it starts
    finds its port taken (`start` raises `PortTaken`: `wait_until_ready` does)."""
    for _ in range(PORT_ATTEMPTS - 1):
        try:
            return start(free_port())
        except PortTaken:
            continue
    return start(free_port())


def written_text(path: Path) -> str:
    """What a running process has written to `path`, in whole lines (see `whole_lines`)."""
    return "\n".join(whole_lines(path))


def start_gateway(
    data_dir: Path, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], RunningGateway]:
    return on_a_free_port(lambda port: _start_gateway(data_dir, extra_env, port))


def _start_gateway(
    data_dir: Path, extra_env: dict[str, str] | None, port: int
) -> tuple[subprocess.Popen[bytes], RunningGateway]:
    output = data_dir / "gateway.log"
    inherited = {
        name: value for name, value in os.environ.items() if not name.startswith("VOXGATE_")
    }
    env = {
        **inherited,
        "VOXGATE_DATA_DIR": str(data_dir),
        "VOXGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "VOXGATE_SHUTDOWN_GRACE_SECONDS": str(SHUTDOWN_GRACE_SECONDS),
        **(extra_env or {}),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    # The key is shown only by the start that creates the default workspace: a restart reuses
    # the one its data dir's first start showed; a process joining a database that another
    # one set up has none (key and curl_line are then empty: use new_workspace).
    earlier = output.read_text() if output.exists() else ""
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "voxgate", "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base_url = f"http://127.0.0.1:{port}"
    wait_until_ready(process, base_url, output)
    text = "\n".join(whole_lines(output))
    key = FIRST_KEY.search(text) or FIRST_KEY.search(earlier)
    curl = CURL_LINE.search(text) or CURL_LINE.search(earlier)
    assert bool(key) == bool(curl), text
    assert key or "workspace 'default' ready" in text, text
    return process, RunningGateway(
        base_url, key.group(1) if key else "", curl.group(0) if curl else "", data_dir, output
    )


def stop_gateway(
    process: subprocess.Popen[bytes], grace_seconds: float = SHUTDOWN_GRACE_SECONDS
) -> None:
    """SIGTERM, then SIGKILL once the server's shutdown grace and a margin have passed."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds + STOP_MARGIN_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_ready(
    process: subprocess.Popen[bytes], base_url: str, output: Path | None = None
) -> None:
    """Until `base_url`/readyz answers 200 (a gateway, or anything in front of one)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    log = output.read_text if output is not None else lambda: "(no log)"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise exited_early(process, log())
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{process.args!r} did not become ready:\n{log()}")


@dataclass
class RunningSimulator:
    base_url: str

    def reset(self) -> None:
        httpx.post(f"{self.base_url}/_sim/reset").raise_for_status()

    def queue_faults(self, credential: str, *faults: dict[str, object]) -> None:
        plan = {"credential": credential, "faults": list(faults)}
        httpx.post(f"{self.base_url}/_sim/faults", json=plan).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = httpx.get(f"{self.base_url}/_sim/requests").json()["requests"]
        return log


def exited_early(process: subprocess.Popen[bytes], log: str) -> RuntimeError:
    """The error of a server that exited while starting: `PortTaken` where its port was."""
    message = f"{process.args!r} exited early:\n{log}"
    return PortTaken(message) if ADDRESS_IN_USE in log.lower() else RuntimeError(message)


def start_simulator(
    data_dir: Path, *, fast: bool = False
) -> tuple[subprocess.Popen[bytes], RunningSimulator]:
    return on_a_free_port(lambda port: _start_simulator(data_dir, fast, port))


def _start_simulator(
    data_dir: Path, fast: bool, port: int
) -> tuple[subprocess.Popen[bytes], RunningSimulator]:
    data_dir.mkdir(parents=True, exist_ok=True)
    output = data_dir / "simulator.log"
    env = {**os.environ, "VOXGATE_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "voxgate", "sim", "--port", str(port)]
    with output.open("wb") as log:
        process = subprocess.Popen(
            [*command, *(["--fast"] if fast else [])], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise exited_early(process, output.read_text())
        try:
            httpx.get(f"{base_url}/_sim/requests", timeout=1).raise_for_status()
            return process, RunningSimulator(base_url)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"simulator did not start:\n{output.read_text()}")


SIM_KEYS = {
    "primary": "primary-key",
    "secondary": "secondary-key",
    "gemini": "gemini-key",
    "azure": "azure-key",
}


@contextmanager
def routed_gateway(
    root: Path, *, fast: bool = True, **overrides: str
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    """A gateway whose every credential points at a simulator; both stop after. In fast mode
    the simulator sends fixed audio and the gateway does not load its engine until asked."""
    sim_process, sim = start_simulator(root / "sim", fast=fast)
    try:
        preload = {"VOXGATE_ENGINE_PRELOAD": "false"} if fast else {}
        env = simulated_providers(sim, **{**preload, **overrides})
        process, gateway = start_gateway(root / "gateway", env)
        try:
            yield gateway, sim
        finally:
            stop_gateway(process)
    finally:
        stop_gateway(sim_process)


def simulated_providers(sim: RunningSimulator, **overrides: str) -> dict[str, str]:
    """Every credential the catalog names, pointed at the simulator."""
    return {
        "OPENAI_API_KEY": SIM_KEYS["primary"],
        "OPENAI_API_KEY_SECONDARY": SIM_KEYS["secondary"],
        "OPENAI_BASE_URL": f"{sim.base_url}/v1",
        "GEMINI_API_KEY": SIM_KEYS["gemini"],
        "GEMINI_BASE_URL": sim.base_url,
        "AZURE_OPENAI_API_KEY": SIM_KEYS["azure"],
        "AZURE_OPENAI_ENDPOINT": sim.base_url,
        "VOXGATE_CASCADE_CHAT_API_KEY": "cascade-key",
        "VOXGATE_CASCADE_CHAT_BASE_URL": f"{sim.base_url}/v1",
        "VOXGATE_UPSTREAM_TIMEOUT_SECONDS": "3",
        "VOXGATE_BREAKER_THRESHOLD": "1000",
        **overrides,
    }
