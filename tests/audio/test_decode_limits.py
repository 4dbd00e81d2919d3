"""Decode limits on sample rate, channels and total decoded work: audio that would cost
CPU-seconds to decode is refused from its header, in CPU milliseconds; speech audio as it is
recorded (8 to 96 kHz, mono, stereo, surround) still decodes."""

import io

import av
import numpy as np
import pytest

from tests.cpu_budget import cpu_seconds_at_most
from voxgate.audio.decode import MAX_SOURCE_RATE, AudioShapeError, decode

LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}


def flac(rate: int, channels: int, seconds: int, *, loud: bool = False) -> bytes:
    """FLAC, one second a frame: silence compresses to almost nothing, as the attack's did."""
    out = io.BytesIO()
    layout = LAYOUTS[channels]
    with av.open(out, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout=layout)
        for _ in range(seconds):
            if loud:
                tone = np.sin(np.arange(rate) * 2 * np.pi * 440 / rate) * 8000
                samples = np.repeat(tone.astype("<i2"), channels)
            else:
                samples = np.zeros(rate * channels, dtype="<i2")
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def test_eight_channels_at_384_khz_are_refused_before_decoding() -> None:
    """Unlimited, this 33 KB file costs about a CPU-second to decode (a 405 KB one, 28)."""
    attack = flac(384_000, 8, 60)
    with cpu_seconds_at_most(0.05), pytest.raises(AudioShapeError, match="384000 Hz"):
        decode(attack, sample_rate=16_000, max_seconds=1800)


def test_more_channels_than_surround_are_refused() -> None:
    out = io.BytesIO()
    with av.open(out, "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=16_000, layout="hexadecagonal")
        samples = np.zeros((1, 16_000 * 16), dtype="<i2")
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="hexadecagonal")
        frame.sample_rate = 16_000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(AudioShapeError, match="16 channels"):
        decode(out.getvalue(), sample_rate=16_000, max_seconds=60)


def test_decoding_work_is_bounded_by_the_duration_limit_at_48_khz_stereo() -> None:
    """96 kHz stereo does twice the work of 48 kHz stereo a second: it may run half as long."""
    studio = flac(MAX_SOURCE_RATE, 2, 4)
    assert decode(studio, sample_rate=16_000, max_seconds=8).duration_seconds == 4
    with cpu_seconds_at_most(0.5), pytest.raises(AudioShapeError, match="96000 Hz"):
        decode(studio, sample_rate=16_000, max_seconds=3)


@pytest.mark.parametrize(
    ("rate", "channels"), [(8_000, 1), (16_000, 1), (44_100, 2), (48_000, 6), (96_000, 2)]
)
def test_speech_audio_as_recorded_still_decodes(rate: int, channels: int) -> None:
    audio = decode(flac(rate, channels, 2, loud=True), sample_rate=16_000, max_seconds=60)
    assert audio.duration_seconds == 2
    assert max(abs(int(s)) for s in np.frombuffer(audio.samples, dtype="<i2")) > 1000
