"""Hypothesis on the audio decoder: random bytes, and real files truncated or with flipped
bytes, either decode or raise the decoder's own error; never anything else, never slowly,
never more than the duration limit allows."""

import resource

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cpu_budget import cpu_seconds_at_most
from voxgate.audio.decode import AudioDecodeError, decode
from voxgate.audio.encode import encode
from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.audio.pcm import PcmAudio

MAX_SECONDS = 5.0
FILE_FORMATS = sorted(name for name, spec in OUTPUT_FORMATS.items() if spec.container)


def _tone_files() -> dict[str, bytes]:
    samples = (np.sin(np.arange(24_000) * 0.05) * 8000).astype("<i2").tobytes()
    tone = PcmAudio(samples, 24_000)
    return {fmt: encode(tone, fmt) for fmt in FILE_FORMATS}  # type: ignore[arg-type]


FILES = _tone_files()
FUZZ = settings(
    max_examples=150,
    deadline=None,  # the wall clock; CPU time is limited below instead
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def decode_or_refuse(data: bytes) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with cpu_seconds_at_most(1.0):
            audio = decode(data, sample_rate=16_000, max_seconds=MAX_SECONDS)
    except AudioDecodeError:
        return
    finally:
        grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert grown_kb < 200_000, "decoding one small input must not take 200 MB"
    assert 0 < audio.duration_seconds <= MAX_SECONDS


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    decode_or_refuse(data)


@FUZZ
@given(st.sampled_from(FILE_FORMATS), st.floats(min_value=0, max_value=1))
def test_truncated_files(fmt: str, keep: float) -> None:
    data = FILES[fmt]
    decode_or_refuse(data[: int(len(data) * keep)])


@FUZZ
@given(
    st.sampled_from(FILE_FORMATS),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=16),
)
def test_files_with_bytes_changed(fmt: str, changes: list[tuple[float, int]]) -> None:
    data = bytearray(FILES[fmt])
    for where, value in changes:
        data[int(where * len(data))] = value
    decode_or_refuse(bytes(data))
