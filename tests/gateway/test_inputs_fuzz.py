"""Hypothesis on the decoder's client-facing entry points (gateway/inputs.py): whatever string a
client sends as audio is decoded or refused with a 400 naming the field, never another
exception, quickly and in bounded memory.

tests/audio/test_decoder_fuzz.py throws random bytes and damaged files at `decode` itself; this
file aims where random bytes rarely reach: well-formed WAV headers with hostile fields (a 1 Hz
rate, no channels, odd sample sizes, lying lengths), damaged container headers, and the base64 /
data-URL layer in front of the decoder.
"""

import base64
import resource
import struct
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from tests.cpu_budget import cpu_seconds_at_most
from voxgate.audio.encode import encode
from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.audio.pcm import PcmAudio
from voxgate.errors import GatewayError, InvalidRequestError, PayloadTooLargeError
from voxgate.gateway.inputs import audio_bytes, container_of, decode_input

MAX_SECONDS = 30.0
RATE = 16_000
# PCM the limit allows, plus the interpreter's own noise; a decode that builds more is unbounded.
MEMORY_BOUND_KB = int(MAX_SECONDS * RATE * 2 * 4 / 1024) + 50_000
FILE_FORMATS = sorted(name for name, spec in OUTPUT_FORMATS.items() if spec.container)
# WAVE format tags ffmpeg knows (PCM, ADPCM, float, A-law, µ-law, IMA ADPCM, MP3, extensible)
# and a few it does not.
WAV_TAGS = [0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011, 0x0055, 0xFFFE, 0x0000, 0x1234]

FUZZ = settings(
    max_examples=120,
    deadline=None,  # the wall clock; CPU time is limited below, and says how slow
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _tone_files() -> dict[str, bytes]:
    samples = (np.sin(np.arange(12_000) * 0.05) * 8000).astype("<i2").tobytes()
    tone = PcmAudio(samples, 24_000)
    return {fmt: encode(tone, fmt) for fmt in FILE_FORMATS}


FILES = _tone_files()


def wav(
    tag: int, channels: int, rate: int, bits: int, block: int | None, data: bytes, lie: int
) -> bytes:
    """A RIFF/WAVE file whose header says what the arguments say, true or not."""
    if block is None:  # consistent with the rest, so that the decoder gets past the header
        block = min(channels * max(bits, 8) // 8, 65535)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    data_size = (len(data) + lie) & 0xFFFFFFFF
    riff_size = (36 + data_size) & 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", data_size)
        + data
    )


def decode_or_refuse(value: str) -> None:
    """The one contract: a PcmAudio within the limit, or a 400 naming `input`."""
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with cpu_seconds_at_most(1.0):
            audio = decode_input(
                audio_bytes(value), sample_rate=RATE, max_seconds=MAX_SECONDS, param="input"
            )
    except GatewayError as error:
        assert isinstance(error, InvalidRequestError) and error.status_code == 400, error
        assert error.param == "input" and error.code and error.message
        outcome = f"refused: {error.code}"
    else:
        outcome = "decoded"
        assert 0 < audio.duration_seconds <= MAX_SECONDS
        assert audio.sample_rate == RATE
    finally:
        grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb
    if currently_in_test_context():
        event(outcome)  # --hypothesis-show-statistics shows the mix
    assert grown_kb < MEMORY_BOUND_KB, f"one small input grew memory by {grown_kb} KB"


def as_base64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def mostly(sane: int, *hostile: int) -> st.SearchStrategy[int]:
    """Usually the sane value, so that most files get past the header to the hostile field."""
    return st.sampled_from([sane] * (len(hostile) + 1) + list(hostile))


WAVS = st.builds(
    wav,
    tag=mostly(*WAV_TAGS),
    channels=mostly(1, 0, 2, 3, 8, 64, 255, 65535),
    rate=mostly(16_000, 0, 1, 2, 7, 100, 8000, 44_100, 192_000, 2**31 - 1, 2**32 - 1),
    bits=mostly(16, 0, 1, 4, 7, 8, 12, 24, 32, 64, 65535),
    block=st.one_of(st.none(), st.none(), st.integers(0, 65535)),
    data=st.binary(max_size=4096),
    lie=mostly(0, 1, -1, 2**31, 2**32 - 1),
)


@FUZZ
@given(WAVS)
def test_wav_headers_with_hostile_fields(data: bytes) -> None:
    decode_or_refuse(as_base64(data))


@FUZZ
@given(
    st.sampled_from(FILE_FORMATS),
    st.lists(st.tuples(st.integers(0, 127), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_real_files_with_their_headers_damaged(fmt: str, changes: list[tuple[int, int]]) -> None:
    # The first 128 bytes hold the container and codec headers: sizes, rates, channel counts.
    data = bytearray(FILES[fmt])
    for where, value in changes:
        data[where % len(data)] = value
    decode_or_refuse(as_base64(bytes(data)))


@FUZZ
@given(st.sampled_from(FILE_FORMATS), st.integers(0, 10_000), st.sampled_from(["", "audio/x"]))
def test_truncated_files_as_data_urls(fmt: str, keep: int, mime: str) -> None:
    data = FILES[fmt][:keep]
    decode_or_refuse(f"data:{mime};base64,{as_base64(data)}")


TEXTS = st.one_of(
    st.text(max_size=200),
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", max_size=200
    ),
    st.builds(lambda rest: "data:" + rest, st.text(max_size=100)),
    st.builds(lambda rest: "data:audio/wav;base64," + rest, st.text(max_size=100)),
    st.builds(
        lambda scheme, rest: scheme + rest,
        st.sampled_from(["http://", "HTTPS://", " ftp://", "file:", "\thttp://"]),
        st.text(max_size=50),
    ),
)


@FUZZ
@given(TEXTS)
def test_any_string_is_audio_or_a_400_naming_input(value: str) -> None:
    decode_or_refuse(value)


def test_urls_are_refused_by_name_and_not_as_bad_base64() -> None:
    for url in ("http://127.0.0.1/a.wav", " HTTPS://example.invalid/a", "file:///etc/passwd"):
        try:
            audio_bytes(url)
        except InvalidRequestError as error:
            assert error.code == "audio_url_not_allowed" and error.param == "input"
        else:
            raise AssertionError(f"{url!r} was taken as audio")


def test_a_one_hertz_wav_claiming_hours_is_refused_quickly() -> None:
    """A 4 KB file at 1 Hz claims 34 minutes: refused as too long, not resampled to 16 kHz."""
    data = wav(1, 1, 1, 16, 2, bytes(4096), 0)
    try:
        decode_input(data, sample_rate=RATE, max_seconds=MAX_SECONDS)
    except InvalidRequestError as error:
        assert error.code == "audio_too_long" and error.param == "input"
    else:
        raise AssertionError("2048 seconds of audio passed a 30-second limit")


def test_a_damaged_metadata_tag_is_no_crash() -> None:
    """Found by test_real_files_with_their_headers_damaged: one changed byte in the MP3's
    encoder tag made av.open raise UnicodeDecodeError (a 500); the audio itself is intact."""
    data = bytearray(FILES["mp3"])
    for where, value in [(21, 161), (35, 243), (47, 6), (82, 69), (83, 151), (90, 142)]:
        data[where] = value
    decode_or_refuse(as_base64(bytes(data)))


def test_a_wav_claiming_a_650_megahertz_rate_is_refused_without_gigabytes() -> None:
    """Found by test_real_files_with_their_headers_damaged: one byte of the rate field made the
    resampler allocate 1.3 GB (a 50 KB request); rates beyond 96 kHz are now refused."""
    data = bytearray(FILES["wav"])
    data[27] = 39  # the sample rate's high byte: 654,335,424 Hz
    Path("/proc/self/clear_refs").write_text("5")  # resets the process's peak (VmHWM) to now
    # Other tests in this process may have loaded models: the growth is what counts.
    before_kb = _status_kb("VmRSS")
    try:
        decode_input(bytes(data), sample_rate=RATE, max_seconds=MAX_SECONDS)
    except InvalidRequestError as error:
        assert error.code == "invalid_audio" and "sample rate" in error.message
    else:
        raise AssertionError("a 654 MHz WAV was decoded")
    grown_kb = _status_kb("VmHWM") - before_kb
    assert grown_kb < 500_000, f"the decode grew the process by {grown_kb // 1024} MB"


def _status_kb(field: str) -> int:
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:"))


def test_audio_is_limited_by_its_decoded_size_before_it_is_decoded() -> None:
    limit = 3_000
    assert audio_bytes(as_base64(bytes(limit)), max_bytes=limit) == bytes(limit)
    for value in (as_base64(bytes(limit + 1)), "data:audio/wav;base64," + "A" * 8_000):
        try:
            audio_bytes(value, max_bytes=limit)
        except PayloadTooLargeError as error:
            assert error.code == "audio_too_large" and error.param == "input"
            assert error.status_code == 413
        else:
            raise AssertionError("audio over the limit was taken")


def test_a_cut_off_file_of_a_few_samples_is_refused_naming_the_field() -> None:
    """100 bytes of a WAV decode to 28 samples; sent on, a provider refuses it (or the
    encoder failed on it: a 500)."""
    try:
        cut = wav(1, 1, RATE, 16, 2, bytes(32_000), 0)[:100]
        decode_input(cut, sample_rate=RATE, max_seconds=MAX_SECONDS, param="file")
    except InvalidRequestError as error:
        assert error.code == "audio_too_short" and error.param == "file"
    else:
        raise AssertionError("a 100-byte WAV was taken as audio")


def test_containers_are_named_from_their_first_bytes() -> None:
    named = {fmt: container_of(data) for fmt, data in FILES.items()}
    assert named == {"aac": "aac", "flac": "flac", "mp3": "mp3", "opus": "ogg", "wav": "wav"}
    assert container_of(b"RIFF\x00\x00\x00\x00AVI LIST") is None
    assert container_of(b"just text") is None
