"""A fast simulator (fixed audio, no engine) on a loopback port, for tests of the simulator and
of the provider adapters.

It runs under uvicorn from the app factory `voxgate sim` serves, so these tests exercise the
simulator alone, whatever state the rest of the CLI is in.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.gateway_process import STARTUP_SECONDS, RunningSimulator, stop_gateway


@contextmanager
def fast_simulator(
    data_dir: Path, tls: tuple[Path, Path] | None = None
) -> Iterator[RunningSimulator]:
    """`tls` (a certificate and its key) serves https and wss, as Google's endpoints are."""
    env = {**os.environ, "VOXGATE_DATA_DIR": str(data_dir), "VOXGATE_SIM_FAST": "1"}
    factory = "voxgate.simulator.app:create_simulator_app_from_env"
    # The port is bound here and the socket handed over, so no other process can take it
    # between choosing it and serving on it.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        # A stream left open by a test must not hold up the stop: a second of grace, then closed.
        command = [
            *(sys.executable, "-m", "uvicorn", factory, "--factory"),
            *("--fd", str(listener.fileno()), "--timeout-graceful-shutdown", "1"),
        ]
        if tls is not None:
            command += ["--ssl-certfile", str(tls[0]), "--ssl-keyfile", str(tls[1])]
        with (data_dir / "simulator.log").open("wb") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                pass_fds=[listener.fileno()],
            )
    running = RunningSimulator(f"{'https' if tls else 'http'}://127.0.0.1:{port}")
    try:
        _wait_until_up(process, running)
        yield running
    finally:
        stop_gateway(process, grace_seconds=1)


def _wait_until_up(process: subprocess.Popen[bytes], sim: RunningSimulator) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            sim.requests()
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the simulator did not start (exit code {process.poll()})")
