"""A WAV already in the recognizer's shape (mono 16-bit PCM at its rate) is read straight from
its data chunk: the same samples PyAV's decoding gives, and any other WAV still goes to PyAV."""

import io
import struct
import wave

import pytest

from voxgate.audio import decode as decoding
from voxgate.audio.decode import AudioDecodeError, AudioTooLongError, decode, plain_wav_samples

RATE = 16_000


def wav(samples: bytes, *, rate: int = RATE, channels: int = 1, width: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(channels)
        file.setsampwidth(width)
        file.setframerate(rate)
        file.writeframes(samples)
    return out.getvalue()


def pyav_samples(data: bytes, monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as patched:
        patched.setattr(decoding, "plain_wav_samples", lambda *_: None)
        return decode(data, sample_rate=RATE, max_seconds=60).samples


def tone(frames: int) -> bytes:
    return b"".join(struct.pack("<h", (i * 37) % 20_000 - 10_000) for i in range(frames))


@pytest.mark.parametrize("frames", [1_600, 16_001])
def test_a_plain_wav_gives_what_pyav_decodes(frames: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = wav(tone(frames))
    assert plain_wav_samples(data, RATE) == pyav_samples(data, monkeypatch)
    assert decode(data, sample_rate=RATE, max_seconds=60).samples == tone(frames)


def test_chunks_before_the_data_are_skipped() -> None:
    data = wav(tone(1_600))
    # An odd-sized LIST chunk between fmt and data: its pad byte is skipped too.
    extra = b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    fmt_end = 12 + 8 + 16
    spliced = data[:fmt_end] + extra + data[fmt_end:]
    spliced = spliced[:4] + struct.pack("<I", len(spliced) - 8) + spliced[8:]
    assert plain_wav_samples(spliced, RATE) == tone(1_600)


@pytest.mark.parametrize(
    "data",
    [
        wav(tone(1_600), rate=24_000),
        wav(tone(1_600) * 2, channels=2),
        wav(tone(1_600)[:1_600], width=1),
        wav(tone(1_600))[:-10],  # cut off: its data chunk claims more than is there
        b"RIFF\x00\x00\x00\x00WAVEdata",
        b"OggS" + bytes(40),
    ],
    ids=["other rate", "stereo", "8-bit", "cut off", "no fmt", "not wav"],
)
def test_any_other_file_is_left_to_pyav(data: bytes) -> None:
    assert plain_wav_samples(data, RATE) is None


def test_a_plain_wav_past_the_limit_is_refused() -> None:
    with pytest.raises(AudioTooLongError):
        decode(wav(tone(RATE * 2)), sample_rate=RATE, max_seconds=1)


def test_a_plain_wav_with_no_samples_is_refused() -> None:
    with pytest.raises(AudioDecodeError):
        decode(wav(b""), sample_rate=RATE, max_seconds=1)
