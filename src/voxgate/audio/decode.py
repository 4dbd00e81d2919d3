"""Decodes audio in any common container from memory into mono 16-bit PCM."""

import io
import struct

import av

from voxgate.audio.pcm import BYTES_PER_SAMPLE, PcmAudio

# The demuxers client audio may be read with (FFmpeg's names; "mov" serves mp4 and m4a, and
# "matroska" serves webm). Probing alone would also pick demuxers that open other files named in
# the bytes (concat, HLS playlists, image sequences): a client could read the server's files.
ALLOWED_CONTAINERS = ("wav", "mp3", "ogg", "flac", "mov", "matroska", "aac")
OPEN_OPTIONS = {
    "format_whitelist": ",".join(ALLOWED_CONTAINERS),
    # No protocol at all: the bytes come from memory, so any file or URL a demuxer tries to open
    # besides them is refused.
    "protocol_whitelist": "none",
}

# What speech audio is recorded at: telephone 8 kHz to studio 96 kHz (field recorders' top
# setting). Beyond it (192 and 384 kHz DXD) only music masters go, and every sample costs decode
# and resampling work that the hold, made from duration, does not see: a 405 KB FLAC of 8
# channels at 384 kHz cost 28 CPU-seconds. A damaged header can also claim 650 MHz, and a
# resampler built for that ratio allocates gigabytes before it reads a sample.
MAX_SOURCE_RATE = 96_000
# Up to 7.1: surround tracks of a recorded video still decode; a downmix reads every channel.
MAX_CHANNELS = 8
# The decoding work one second of allowed duration may take, in samples over all channels:
# that of 48 kHz stereo. A 96 kHz or multichannel file may run for a fraction of the duration
# limit; the work of any accepted file is bounded by `max_seconds` of 48 kHz stereo.
WORK_SAMPLES_PER_ALLOWED_SECOND = 48_000 * 2


class AudioDecodeError(ValueError):
    """The bytes are not audio this gateway can decode."""


class AudioTooLongError(AudioDecodeError):
    """The audio runs past the allowed duration (or its decoding past the allowed work)."""


class AudioShapeError(AudioDecodeError):
    """The audio's sample rate or channel count is past what the gateway decodes."""


# A WAV file's fmt chunk for plain integer PCM (not WAVE_FORMAT_EXTENSIBLE).
WAVE_FORMAT_PCM = 1
# RIFF chunks are padded to an even size; the chunk headers are an id and a 32-bit length.
_CHUNK_HEADER = struct.Struct("<4sI")
_PCM_FORMAT = struct.Struct("<HHIIHH")


def plain_wav_samples(data: bytes, sample_rate: int) -> bytes | None:
    """The samples of a WAV file that already is mono 16-bit PCM at `sample_rate` (what a
    recognizer takes), read straight from its data chunk; None for any other file, or any
    WAV whose chunks do not add up, which PyAV then decodes. Decoding such a file through
    PyAV and its resampler gives back these very samples, at a hundred times the CPU."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset = 12
    plain = False
    while offset + _CHUNK_HEADER.size <= len(data):
        chunk_id, size = _CHUNK_HEADER.unpack_from(data, offset)
        start = offset + _CHUNK_HEADER.size
        if start + size > len(data):
            return None  # cut off, or a streamed WAV's unknown length: PyAV's reading of it
        if chunk_id == b"fmt ":
            if size < _PCM_FORMAT.size:
                return None
            tag, channels, rate, _, _, bits = _PCM_FORMAT.unpack_from(data, start)
            plain = (tag, channels, rate, bits) == (WAVE_FORMAT_PCM, 1, sample_rate, 16)
            if not plain:
                return None
        elif chunk_id == b"data":
            return data[start : start + size - size % BYTES_PER_SAMPLE] if plain else None
        offset = start + size + size % 2
    return None


def decode(data: bytes, *, sample_rate: int = 16_000, max_seconds: float) -> PcmAudio:
    """Decode, downmix and resample; stop as soon as `max_seconds` is passed."""
    if not data:
        raise AudioDecodeError("no bytes")
    limit = int(max_seconds * sample_rate) * BYTES_PER_SAMPLE
    samples = plain_wav_samples(data, sample_rate)
    if samples is not None:
        if len(samples) > limit:
            raise AudioTooLongError("longer than the limit")
        if not samples:
            raise AudioDecodeError("no audio samples")
        return PcmAudio(samples, sample_rate)
    try:
        # Tags are not needed, and a damaged one (bytes that are not UTF-8) would otherwise
        # raise UnicodeDecodeError from av.open: a 500 instead of a decoded file.
        with av.open(
            io.BytesIO(data), mode="r", options=OPEN_OPTIONS, metadata_errors="replace"
        ) as container:
            if not container.streams.audio:
                raise AudioDecodeError("no audio stream")
            # What the header declares is refused before a single packet is decoded.
            # (A codec FFmpeg has no decoder for has no context; decoding refuses it below.)
            declared = container.streams.audio[0].codec_context
            if declared is not None:
                _check_shape(declared.sample_rate or None, declared.channels or None)
            pcm = _decode_stream(container, sample_rate, limit, max_seconds)
            return PcmAudio(pcm, sample_rate)
    except av.FFmpegError as exc:
        raise AudioDecodeError(_reason(exc)) from exc


def _decode_stream(
    container: av.container.InputContainer, rate: int, limit: int, max_seconds: float
) -> bytes:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    shape: tuple[str, str, int] | None = None
    chunks: list[bytes] = []
    size = 0
    seconds = 0.0
    work = 0
    work_limit = max_seconds * WORK_SAMPLES_PER_ALLOWED_SECOND
    for frame in container.decode(container.streams.audio[0]):
        # Checked before resampling too, frame by frame (a stream may change shape midway):
        # one frame at a tiny sample rate can claim hours, and resampling it would build all
        # of them in memory before the `limit` check below.
        if frame.sample_rate <= 0:
            raise AudioDecodeError(f"a sample rate of {frame.sample_rate} Hz")
        _check_shape(frame.sample_rate, len(frame.layout.channels))
        seconds += frame.samples / frame.sample_rate
        work += frame.samples * len(frame.layout.channels)
        if seconds > max_seconds:
            raise AudioTooLongError("longer than the limit")
        if work > work_limit:
            raise AudioShapeError(
                f"more samples than {max_seconds:g} seconds of 48 kHz stereo; at "
                f"{frame.sample_rate} Hz and {len(frame.layout.channels)} channels, send less "
                "or downsample"
            )
        frame_shape = (frame.format.name, frame.layout.name, frame.sample_rate)
        if shape is not None and frame_shape != shape:
            # The stream changed its sample format, layout or rate midway (damaged files do):
            # a resampler serves one input shape, so finish this one and start another.
            size += sum(_append(chunks, part) for part in resampler.resample(None))
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        shape = frame_shape
        for part in resampler.resample(frame):
            size += _append(chunks, part)
            if size > limit:
                raise AudioTooLongError("longer than the limit")
    for part in resampler.resample(None):
        size += _append(chunks, part)
    if size == 0:
        raise AudioDecodeError("no audio samples")
    if size > limit:
        raise AudioTooLongError("longer than the limit")
    return b"".join(chunks)


def _check_shape(rate: int | None, channels: int | None) -> None:
    if rate is not None and rate > MAX_SOURCE_RATE:
        raise AudioShapeError(
            f"a sample rate of {rate} Hz; the highest accepted is {MAX_SOURCE_RATE} Hz"
        )
    if channels is not None and channels > MAX_CHANNELS:
        raise AudioShapeError(f"{channels} channels; the most accepted is {MAX_CHANNELS}")


def _append(chunks: list[bytes], frame: av.AudioFrame) -> int:
    samples = frame.to_ndarray().astype("<i2", copy=False).tobytes()
    chunks.append(samples)
    return len(samples)


def _reason(exc: av.FFmpegError) -> str:
    # FFmpeg's own text can name files and whether they exist; the client gets a fixed phrase.
    if isinstance(exc, av.InvalidDataError):
        return "damaged or not a supported container"
    return "not a supported audio container"
