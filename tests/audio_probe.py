"""Decodes audio the way a client would, to check what the gateway returned."""

import io
from dataclasses import dataclass

import av
import numpy as np


@dataclass(frozen=True)
class Probe:
    codec: str
    container: str
    sample_rate: int
    duration_seconds: float
    peak: float


def probe(data: bytes, *, container: str | None = None) -> Probe:
    """Decode every frame; a file that does not decode raises."""
    with av.open(io.BytesIO(data), format=container) as media:
        stream = media.streams.audio[0]
        samples = 0
        peak = 0.0
        rate = stream.codec_context.sample_rate
        for frame in media.decode(stream):
            array = frame.to_ndarray()
            samples += frame.samples
            rate = frame.sample_rate
            if array.size:
                scale = 32768.0 if array.dtype == np.int16 else 1.0
                peak = max(peak, float(np.abs(array).max()) / scale)
        return Probe(stream.codec_context.name, media.format.name, rate, samples / rate, peak)


def probe_pcm16(data: bytes, sample_rate: int = 24_000) -> Probe:
    samples = np.frombuffer(data, dtype="<i2")
    peak = float(np.abs(samples.astype(np.float32)).max()) / 32768 if samples.size else 0.0
    return Probe("pcm_s16le", "raw", sample_rate, samples.size / sample_rate, peak)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word errors over the reference length."""
    return word_errors(reference, hypothesis) / max(len(_words(reference)), 1)


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level Levenshtein distance, ignoring case and punctuation."""
    ref, hyp = _words(reference), _words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp, start=1):
            substitution = previous[j - 1] + (ref_word != hyp_word)
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitution))
        previous = current
    return previous[-1]


def word_recall(reference: str, hypothesis: str) -> float:
    """The share of the reference's distinct words that the hypothesis says, in any order."""
    wanted = set(_words(reference))
    return len(wanted & set(_words(hypothesis))) / max(len(wanted), 1)


def _words(text: str) -> list[str]:
    cleaned = "".join(ch.lower() if ch.isalnum() or ch.isspace() else " " for ch in text)
    return cleaned.split()
