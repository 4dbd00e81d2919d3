"""Sample-rate conversion of mono 16-bit PCM."""

import av
import numpy as np

from voxgate.audio.pcm import PcmAudio


def resample(pcm: PcmAudio, sample_rate: int) -> PcmAudio:
    if pcm.sample_rate == sample_rate or not pcm.samples:
        return PcmAudio(pcm.samples, sample_rate if not pcm.samples else pcm.sample_rate)
    samples = np.frombuffer(pcm.samples, dtype="<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = pcm.sample_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return PcmAudio(b"".join(bytes(f.planes[0])[: f.samples * 2] for f in frames), sample_rate)
