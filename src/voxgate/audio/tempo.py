"""Changes the speed of speech without changing its pitch (FFmpeg's atempo, via PyAV)."""

from fractions import Fraction

import av
import numpy as np

from voxgate.audio.pcm import PcmAudio

# One atempo stage keeps its best quality within 0.5–2.0, so wider changes are chained.
STAGE_LIMITS = (0.5, 2.0)


def change_tempo(pcm: PcmAudio, speed: float) -> PcmAudio:
    if speed == 1.0 or not pcm.samples:
        return pcm
    graph = av.filter.Graph()
    source = graph.add_abuffer(
        format="s16",
        sample_rate=pcm.sample_rate,
        layout="mono",
        time_base=Fraction(1, pcm.sample_rate),
    )
    stages = [graph.add("atempo", str(factor)) for factor in _stages(speed)]
    sink = graph.add("abuffersink")
    graph.link_nodes(source, *stages, sink).configure()
    samples = np.frombuffer(pcm.samples, dtype="<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = pcm.sample_rate
    frame.pts = 0
    graph.push(frame)
    graph.push(None)
    return PcmAudio(b"".join(_drain(graph)), pcm.sample_rate)


def _stages(speed: float) -> list[float]:
    low, high = STAGE_LIMITS
    stages = []
    while speed > high or speed < low:
        step = high if speed > high else low
        stages.append(step)
        speed /= step
    return [*stages, speed]


def _drain(graph: av.filter.Graph) -> list[bytes]:
    chunks: list[bytes] = []
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return chunks
        chunks.append(frame.to_ndarray().astype("<i2", copy=False).tobytes())
