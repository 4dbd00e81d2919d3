"""One fast simulator (fixed audio, no engine) per module, on a loopback port.

It runs under uvicorn from the app factory `voxgate sim` serves, so these tests exercise the
simulator alone, whatever state the rest of the CLI is in.
"""

import io
import math
import os
import subprocess
import sys
import time
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tests.gateway_process import STARTUP_SECONDS, RunningSimulator, free_port, stop_gateway


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    data_dir = tmp_path_factory.mktemp("sim")
    port = free_port()
    env = {**os.environ, "VOXGATE_DATA_DIR": str(data_dir), "VOXGATE_SIM_FAST": "1"}
    factory = "voxgate.simulator.app:create_simulator_app_from_env"
    command = [sys.executable, "-m", "uvicorn", factory, "--factory", "--port", str(port)]
    with (data_dir / "simulator.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    running = RunningSimulator(f"http://127.0.0.1:{port}")
    try:
        _wait_until_up(process, running)
        yield running
    finally:
        stop_gateway(process)


def _wait_until_up(process: subprocess.Popen[bytes], sim: RunningSimulator) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            sim.requests()
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the simulator did not start (exit code {process.poll()})")


@pytest.fixture(autouse=True)
def _fresh(sim: RunningSimulator) -> None:
    sim.reset()


def wav_tone(seconds: float, rate: int = 16_000) -> bytes:
    """A 440 Hz tone as a WAV file."""
    t = np.arange(int(rate * seconds)) / rate
    samples = (np.sin(2 * math.pi * 440 * t) * 6000).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return out.getvalue()
