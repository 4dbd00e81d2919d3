"""Encodes PCM into the gateway's output formats with PyAV."""

import asyncio
import io
import wave

import av
import numpy as np

from voxgate.audio.formats import OUTPUT_FORMATS, OUTPUT_SAMPLE_RATE
from voxgate.audio.pcm import BYTES_PER_SAMPLE, PcmAudio
from voxgate.audio.resample import resample
from voxgate.types import AudioFormat


def encode(pcm: PcmAudio, fmt: AudioFormat) -> bytes:
    """The whole clip as a file (or raw samples for pcm16), mono at 24 kHz."""
    spec = OUTPUT_FORMATS[fmt]
    audio = resample(pcm, OUTPUT_SAMPLE_RATE)
    if spec.container is None:
        return audio.samples
    out = io.BytesIO()
    with av.open(out, "w", format=spec.container) as container:
        stream = container.add_stream(spec.codec, rate=OUTPUT_SAMPLE_RATE, layout="mono")
        assert isinstance(stream, av.AudioStream)
        # PyAV converts the sample format and cuts frames to the codec's frame size itself.
        # An empty frame would fail the encoder (ENOMEM from LAME): no samples, no frame, and
        # the file is a valid one that holds no audio.
        if audio.samples:
            for packet in stream.encode(_frame(audio)):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def wav(pcm: PcmAudio) -> bytes:
    """The samples as they are, at their own rate, in a WAV: a copy, cheap enough to write on
    the event loop (unlike `encode`, which resamples to the output rate)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(BYTES_PER_SAMPLE)
        writer.setframerate(pcm.sample_rate)
        writer.writeframes(pcm.samples)
    return out.getvalue()


async def encode_off_loop(pcm: PcmAudio, fmt: AudioFormat) -> bytes:
    """`encode` on a worker thread, unless there is nothing to do but copy the samples (raw,
    or behind a WAV header): a hop to a thread and back costs more than the copy."""
    if pcm.sample_rate == OUTPUT_SAMPLE_RATE:
        container = OUTPUT_FORMATS[fmt].container
        if container is None:
            return pcm.samples
        if container == "wav":
            return wav(pcm)
    return await asyncio.to_thread(encode, pcm, fmt)


def _frame(pcm: PcmAudio) -> av.AudioFrame:
    samples = np.frombuffer(pcm.samples, dtype="<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = pcm.sample_rate
    frame.pts = None
    return frame


def warm_encoders() -> None:
    """Open every output encoder once (a few milliseconds of silence each), so that the first
    request in each format does not pay for loading its codec."""
    silence = PcmAudio(bytes(2 * OUTPUT_SAMPLE_RATE // 100), OUTPUT_SAMPLE_RATE)
    for fmt in OUTPUT_FORMATS:
        encode(silence, fmt)
