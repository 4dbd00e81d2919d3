"""Encodes audio chunk by chunk, so the first bytes can leave before the last are made."""

import struct
from typing import Any

import av
import numpy as np

from voxgate.audio.formats import OUTPUT_FORMATS, OUTPUT_SAMPLE_RATE
from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.types import AudioFormat

# A WAV header whose sizes say "unknown length", as streamed WAV from OpenAI has it.
UNKNOWN_SIZE = 0xFFFFFFFF


class _Outbox:
    """A write-only file for PyAV that hands out each byte once; late header rewrites of
    bytes already sent (a muxer seeking back at the end) are dropped."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._sent = 0
        self._position = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        end = self._position + len(chunk)
        written = self._sent + len(self._pending)
        if end > written:
            self._pending += chunk[max(0, written - self._position) :]
        self._position = end
        return len(chunk)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._position, 2: self._sent + len(self._pending)}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out = bytes(self._pending)
        self._sent += len(out)
        self._pending.clear()
        return out


class StreamEncoder:
    """feed() PCM chunks, get encoded bytes back; finish() returns the tail."""

    def __init__(self, fmt: AudioFormat) -> None:
        self._spec = OUTPUT_FORMATS[fmt]
        self._header_due = fmt == "wav"
        self._outbox = _Outbox()
        self._container: Any = None
        self._stream: Any = None
        if self._spec.container is not None and fmt != "wav":
            self._container = av.open(self._outbox, "w", format=self._spec.container)
            self._stream = self._container.add_stream(
                self._spec.codec, rate=OUTPUT_SAMPLE_RATE, layout="mono"
            )

    def feed(self, pcm: PcmAudio) -> bytes:
        audio = resample(pcm, OUTPUT_SAMPLE_RATE)
        if self._container is None:
            return self._raw(audio.samples)
        if not audio.samples:
            return b""  # an empty frame would fail the encoder
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(audio.samples, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = OUTPUT_SAMPLE_RATE
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._outbox.take()

    def finish(self) -> bytes:
        if self._container is None:
            return self._raw(b"")
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._outbox.take()

    def _raw(self, samples: bytes) -> bytes:
        if not self._header_due:
            return samples
        self._header_due = False
        return _wav_header() + samples


def _wav_header() -> bytes:
    rate, channels, width = OUTPUT_SAMPLE_RATE, 1, 2
    return (
        b"RIFF"
        + struct.pack("<I", UNKNOWN_SIZE)
        + b"WAVEfmt "
        + struct.pack(
            "<IHHIIHH", 16, 1, channels, rate, rate * channels * width, channels * width, 16
        )
        + b"data"
        + struct.pack("<I", UNKNOWN_SIZE)
    )
