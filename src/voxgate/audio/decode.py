"""Decodes audio in any common container from memory into mono 16-bit PCM."""

import io

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

# The highest rate real recordings use (DXD); a damaged header can claim 650 MHz, and a
# resampler built for that ratio allocates gigabytes before it reads a sample.
MAX_SOURCE_RATE = 384_000


class AudioDecodeError(ValueError):
    """The bytes are not audio this gateway can decode."""


class AudioTooLongError(AudioDecodeError):
    """The audio runs past the allowed duration."""


def decode(data: bytes, *, sample_rate: int = 16_000, max_seconds: float) -> PcmAudio:
    """Decode, downmix and resample; stop as soon as `max_seconds` is passed."""
    if not data:
        raise AudioDecodeError("no bytes")
    limit = int(max_seconds * sample_rate) * BYTES_PER_SAMPLE
    try:
        # Tags are not needed, and a damaged one (bytes that are not UTF-8) would otherwise
        # raise UnicodeDecodeError from av.open: a 500 instead of a decoded file.
        with av.open(
            io.BytesIO(data), mode="r", options=OPEN_OPTIONS, metadata_errors="replace"
        ) as container:
            if not container.streams.audio:
                raise AudioDecodeError("no audio stream")
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
    for frame in container.decode(container.streams.audio[0]):
        # Checked before resampling too: one frame at a tiny sample rate can claim hours, and
        # resampling it would build all of them in memory before the `limit` check below.
        if not 0 < frame.sample_rate <= MAX_SOURCE_RATE:
            raise AudioDecodeError(f"a sample rate of {frame.sample_rate} Hz")
        seconds += frame.samples / frame.sample_rate
        if seconds > max_seconds:
            raise AudioTooLongError("longer than the limit")
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


def _append(chunks: list[bytes], frame: av.AudioFrame) -> int:
    samples = frame.to_ndarray().astype("<i2", copy=False).tobytes()
    chunks.append(samples)
    return len(samples)


def _reason(exc: av.FFmpegError) -> str:
    # FFmpeg's own text can name files and whether they exist; the client gets a fixed phrase.
    if isinstance(exc, av.InvalidDataError):
        return "damaged or not a supported container"
    return "not a supported audio container"
