"""One fast simulator per module (see `tests.simulator.process`)."""

import io
import math
import wave
from collections.abc import Iterator

import numpy as np
import pytest

from tests.gateway_process import RunningSimulator
from tests.simulator.process import fast_simulator


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    with fast_simulator(tmp_path_factory.mktemp("sim")) as running:
        yield running


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
