import numpy as np
import pytest

from tests.audio_probe import probe
from voxgate.audio.decode import AudioDecodeError, AudioTooLongError, decode
from voxgate.audio.encode import encode, encode_off_loop
from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample

DECODER_NAMES = {"libmp3lame": {"mp3", "mp3float"}, "libopus": {"opus", "libopus"}}


def tone(seconds: float = 1.5, rate: int = 22_050) -> PcmAudio:
    t = np.arange(int(seconds * rate)) / rate
    return PcmAudio((np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes(), rate)


@pytest.mark.parametrize("fmt", ["mp3", "wav", "opus", "flac", "aac"])
def test_encoded_files_decode_to_the_table_codec_rate_and_length(fmt: str) -> None:
    spec = OUTPUT_FORMATS[fmt]  # type: ignore[index]
    audio = probe(encode(tone(), spec.name))
    assert audio.codec in DECODER_NAMES.get(spec.codec, {spec.codec})
    assert audio.sample_rate == spec.decoded_sample_rate
    # Encoders add at most a few frames of priming/padding.
    assert audio.duration_seconds == pytest.approx(1.5, abs=0.1)
    assert audio.peak == pytest.approx(8000 / 32768, rel=0.2)


async def test_wav_at_the_output_rate_is_written_on_the_loop_as_the_encoder_would() -> None:
    """The copy behind a WAV header (no thread) decodes, as the encoder's file does, to the
    same samples."""
    clip = resample(tone(), 24_000)
    written = await encode_off_loop(clip, "wav")
    assert probe(written).codec == "pcm_s16le"
    for audio in (written, encode(clip, "wav")):
        assert decode(audio, sample_rate=24_000, max_seconds=60).samples == clip.samples


def test_pcm16_is_raw_24khz_samples() -> None:
    raw = encode(tone(), "pcm16")
    assert len(raw) == pytest.approx(1.5 * 24_000 * 2, abs=8)


@pytest.mark.parametrize("fmt", ["mp3", "wav", "opus", "flac", "aac"])
def test_decode_round_trips_each_container(fmt: str) -> None:
    pcm = decode(encode(tone(), fmt), sample_rate=16_000, max_seconds=60)  # type: ignore[arg-type]
    assert pcm.sample_rate == 16_000
    assert pcm.duration_seconds == pytest.approx(1.5, abs=0.1)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world" * 50, b"RIFF\x24\x00\x00\x00WAVEfmt ", b"\x00" * 4096],
    ids=["empty", "text", "wav-header-only", "zeros"],
)
def test_not_audio_is_refused(data: bytes) -> None:
    with pytest.raises(AudioDecodeError):
        decode(data, max_seconds=60)


def test_truncated_file_is_refused_or_shorter() -> None:
    data = encode(tone(), "mp3")
    with pytest.raises(AudioDecodeError):
        decode(data[:64], max_seconds=60)


def test_decoding_stops_at_the_duration_limit() -> None:
    long_silence = PcmAudio(bytes(2 * 16_000 * 30), 16_000)
    with pytest.raises(AudioTooLongError):
        decode(encode(long_silence, "flac"), max_seconds=5)


def test_resample_keeps_the_duration() -> None:
    assert resample(tone(rate=22_050), 16_000).duration_seconds == pytest.approx(1.5, abs=0.01)
