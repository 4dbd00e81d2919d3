"""Decodes audio in any common container from memory into mono 16-bit PCM."""

import io

import av

from voxgate.audio.pcm import BYTES_PER_SAMPLE, PcmAudio


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
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioDecodeError("no audio stream")
            return PcmAudio(_decode_stream(container, sample_rate, limit), sample_rate)
    except av.FFmpegError as exc:
        raise AudioDecodeError(_reason(exc)) from exc


def _decode_stream(container: av.container.InputContainer, rate: int, limit: int) -> bytes:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    shape: tuple[str, str, int] | None = None
    chunks: list[bytes] = []
    size = 0
    for frame in container.decode(container.streams.audio[0]):
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
    return str(getattr(exc, "strerror", None) or exc).rstrip(".").lower()
