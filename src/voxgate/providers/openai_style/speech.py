"""POST audio/speech: JSON in, the server's declared format out (raw `pcm` at its declared rate,
or `wav`, whose header gives the rate), read whole or as it arrives; the gateway encodes the
client's format from the samples."""

import struct
from typing import Any

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.declaration import SpeechOutput
from voxgate.providers.errors import UpstreamError
from voxgate.providers.http import expect_audio
from voxgate.providers.protocols import SpeechRequest

# A WAV's chunks before `data` (fmt, LIST tags…) are small; more than this is not a WAV.
MAX_WAV_HEADER_BYTES = 64 * 1024
PCM_FORMAT_TAG, MONO, BITS = 1, 1, 16
# What raw samples are labelled as; a whole answer labelled otherwise (an MP3, a WAV) where
# raw pcm was asked for would be noise if read as samples.
RAW_PCM_TYPES = frozenset({"audio/pcm", "audio/l16", "audio/raw", "application/octet-stream"})


def body(request: SpeechRequest, model: str | None, output: SpeechOutput) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "input": request.text,
        "voice": request.voice,
        "response_format": output.wire_format,
        "speed": request.speed,
    }
    if request.instructions:
        payload["instructions"] = request.instructions
    return payload | ({"model": model} if model else {})


class SpeechDecoder:
    """Samples out of the speech bytes as they arrive. A sample split between two reads waits
    for the next; a WAV's header is read first and its rate wins over the declared one."""

    def __init__(self, provider: str, output: SpeechOutput) -> None:
        self._provider = provider
        self._rate = output.sample_rate
        self._wire_format = output.wire_format
        self._in_header = output.wire_format == "wav"
        self._pending = b""

    def feed(self, data: bytes) -> PcmAudio | None:
        self._pending += data
        if self._in_header and not self._read_header():
            return None
        whole = len(self._pending) // 2 * 2
        if not whole:
            return None
        pcm = PcmAudio(self._pending[:whole], self._rate)
        self._pending = self._pending[whole:]
        return pcm

    def whole_answer(self, data: bytes, content_type: str) -> PcmAudio:
        """A whole answer's samples, once its content type says it holds the format asked."""
        expect_audio(self._provider, content_type)
        if self._wire_format == "pcm" and content_type.lower() not in RAW_PCM_TYPES:
            raise UpstreamError(
                self._provider, f"expected raw pcm, got {content_type}", retriable=True
            )
        return self.whole(data)

    def whole(self, data: bytes) -> PcmAudio:
        """A whole answer's samples; an answer without any is not speech."""
        pcm = self.feed(data)
        if pcm is None:
            raise UpstreamError(self._provider, "the speech answer has no audio", retriable=True)
        return pcm

    def _read_header(self) -> bool:
        """Whether the header has been read (the rest of `_pending` is samples); False while
        more bytes are needed."""
        data = self._pending
        if len(data) >= 12 and (data[:4] != b"RIFF" or data[8:12] != b"WAVE"):
            raise self._not_wav("it does not start as a WAV")
        offset, has_format = 12, False
        while len(data) >= offset + 8:
            chunk = data[offset : offset + 4]
            size = int.from_bytes(data[offset + 4 : offset + 8], "little")
            start = offset + 8
            if chunk == b"data":
                if not has_format:
                    raise self._not_wav("its samples come before their format")
                self._pending, self._in_header = data[start:], False
                return True
            if len(data) < start + size:
                break
            if chunk == b"fmt ":
                self._rate = self._format(data[start : start + size])
                has_format = True
            offset = start + size + (size & 1)
        if len(data) > MAX_WAV_HEADER_BYTES:
            raise self._not_wav("no samples within its first 64 KiB")
        return False

    def _format(self, chunk: bytes) -> int:
        if len(chunk) < 16:
            raise self._not_wav("its format chunk is short")
        tag, channels, rate = struct.unpack_from("<HHI", chunk)
        (bits,) = struct.unpack_from("<H", chunk, 14)
        if (tag, channels, bits) != (PCM_FORMAT_TAG, MONO, BITS) or rate <= 0:
            raise self._not_wav("it is not mono 16-bit PCM")
        return int(rate)

    def _not_wav(self, why: str) -> UpstreamError:
        return UpstreamError(
            self._provider, f"the speech is not the WAV asked for: {why}", retriable=True
        )
