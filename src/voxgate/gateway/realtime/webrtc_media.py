"""A WebRTC call's audio, as the realtime session knows it: the caller's microphone read as
24 kHz PCM16 chunks, and the session's answer played out on a track the gateway sends.

Sessions work in 24 kHz mono PCM16 whatever carries them; Opus on the wire is aiortc's (its
encoder resamples to 48 kHz stereo, its decoder gives 48 kHz frames this module resamples).
"""

import asyncio
import fractions
import time
from collections.abc import AsyncIterator

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, AudioResampler

PCM_RATE = 24_000
PCM_SAMPLE_BYTES = 2
# One 20 ms Opus packet's worth of session audio.
FRAME_SAMPLES = PCM_RATE // 50
FRAME_BYTES = FRAME_SAMPLES * PCM_SAMPLE_BYTES
TIME_BASE = fractions.Fraction(1, PCM_RATE)


async def microphone_chunks(track: MediaStreamTrack) -> AsyncIterator[bytes]:
    """The caller's audio as 24 kHz mono PCM16, one chunk per received frame, until the track
    ends."""
    resampler = AudioResampler(format="s16", layout="mono", rate=PCM_RATE)
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if not isinstance(frame, AudioFrame):  # an audio track gives audio frames
            continue
        for resampled in resampler.resample(frame):
            yield resampled.to_ndarray().tobytes()


class SpeakerTrack(MediaStreamTrack):
    """The session's answer, sent to the caller in real time: silence when there is nothing to
    say. It notes when a response starts being heard, when all of it has been (its audio
    complete and played out: a pause between its sentences is not an end) and when it was
    cleared, for the `output_audio_buffer.*` events OpenAI's WebRTC sends."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        self._response_id: str | None = None
        self._playing = False
        self._complete = False
        self._started: float | None = None
        self._sent_samples = 0
        # (event type, response id) as playback starts, ends and is cleared.
        self.playback: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()

    def play(self, pcm: bytes, response_id: str | None) -> None:
        if not self._playing or response_id != self._response_id:
            self._playing, self._complete = True, False
            self._response_id = response_id
            self.playback.put_nowait(("output_audio_buffer.started", response_id))
        self._pending += pcm

    def audio_complete(self) -> None:
        """The response under way has sent all its audio: once played out, it has stopped."""
        self._complete = True

    def clear(self) -> None:
        """Drop what is not yet heard (the caller spoke over it, or asked)."""
        if self._playing:
            self._pending.clear()
            self._playing = False
            self.playback.put_nowait(("output_audio_buffer.cleared", self._response_id))

    async def recv(self) -> AudioFrame:
        await self._pace()
        chunk = bytes(self._pending[:FRAME_BYTES])
        del self._pending[:FRAME_BYTES]
        if self._playing and self._complete and not self._pending:
            self._playing = False
            self.playback.put_nowait(("output_audio_buffer.stopped", self._response_id))
        return _frame(chunk.ljust(FRAME_BYTES, b"\0"), self._sent_samples - FRAME_SAMPLES)

    async def _pace(self) -> None:
        """One frame per 20 ms of the call's clock, as a microphone would give them."""
        if self._started is None:
            self._started = time.monotonic()
        else:
            due = self._started + self._sent_samples / PCM_RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        self._sent_samples += FRAME_SAMPLES


def _frame(pcm: bytes, pts: int) -> AudioFrame:
    frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
    frame.planes[0].update(pcm)
    frame.sample_rate = PCM_RATE
    frame.pts = pts
    frame.time_base = TIME_BASE
    return frame
