import numpy as np
import pytest

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.tempo import change_tempo

RATE = 22_050


def tone(frequency: float = 440.0, seconds: float = 2.0) -> PcmAudio:
    t = np.arange(int(seconds * RATE)) / RATE
    return PcmAudio((np.sin(2 * np.pi * frequency * t) * 8000).astype("<i2").tobytes(), RATE)


def dominant_frequency(pcm: PcmAudio) -> float:
    samples = np.frombuffer(pcm.samples, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / pcm.sample_rate)[spectrum.argmax()])


@pytest.mark.parametrize("speed", [0.25, 0.5, 1.5, 2.0, 4.0])
def test_duration_scales_with_speed_and_pitch_stays(speed: float) -> None:
    stretched = change_tempo(tone(), speed)
    assert stretched.duration_seconds == pytest.approx(2.0 / speed, rel=0.05)
    assert dominant_frequency(stretched) == pytest.approx(440.0, abs=5.0)


def test_normal_speed_is_untouched() -> None:
    original = tone()
    assert change_tempo(original, 1.0) is original
