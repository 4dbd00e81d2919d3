"""CPU time of a local realtime turn's two slow stages, which unlike wall time holds still on a
shared machine: Whisper hearing a spoken turn, and Piper making the answer's first phrase.

Run: .venv/bin/python -m bench.cascade_cpu
Each figure is the median over the phrases (Whisper) or repeats (Piper) of the process's CPU
time, all threads counted; each turn is a Piper-spoken question with half a second of silence
either side, as the server's VAD cuts it.
"""

import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tests.audio_probe import word_error_rate

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.providers.local.loading import load_recognizer, load_voice
from voxgate.providers.local.models import load_local_models
from voxgate.providers.local.phrases import bounded_phrases, first_clause_apart
from voxgate.providers.local.speech import _pcm16, _phrase_audio
from voxgate.providers.local.transcription import whisper_samples
from voxgate.providers.local.turns import decode_turn

TURNS = (
    "What time does the museum open?",
    "What time does the museum open tomorrow?",
    "She ordered a cup of coffee and a slice of apple pie.",
    "Please book a table for two at seven.",
    "How far is the station from here?",
    "Turn off the lights in the kitchen.",
)
# The simulator's answer to the benchmark's question, as bench.realtime hears it.
ANSWER = "The simulator heard: What time does the museum open?"
RECOGNIZER = "whisper-tiny.en"
HALF_SECOND = 8_000
REPEATS = 5


def cpu_ms(job: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(REPEATS):
        started = time.process_time()
        result = job()
        times.append(time.process_time() - started)
    return statistics.median(times) * 1000, result


def main() -> None:
    models = load_local_models()
    voice = load_voice(models.speech.voices["joe"], threads=2)
    spec = models.recognizer(RECOGNIZER)
    with tempfile.TemporaryDirectory() as directory:
        whisper = load_recognizer(RECOGNIZER, spec, Path(directory), threads=2, workers=1)

    def spoken(text: str) -> npt.NDArray[np.float32]:
        phrases = bounded_phrases(voice.phonemize(text))
        samples = b"".join(_pcm16(_phrase_audio(voice, p)).tobytes() for p in phrases)
        audio = resample(PcmAudio(samples, voice.config.sample_rate), 16_000)
        silence = np.zeros(HALF_SECOND, dtype=np.float32)
        return np.concatenate([silence, whisper_samples(audio), silence])

    def usual(samples: npt.NDArray[np.float32]) -> str:
        segments, _ = whisper.transcribe(
            samples, language="en", beam_size=spec.beam_size, vad_filter=spec.vad_filter
        )
        return "".join(segment.text for segment in segments).strip()

    turns = {text: spoken(text) for text in TURNS}
    for name, hear in (
        (f"usual (beam {spec.beam_size}, 30 s window)", usual),
        ("spoken turn (greedy, 10 s window)", lambda s: decode_turn(whisper, s, "en")),
    ):
        measured = {text: cpu_ms(partial(hear, samples)) for text, samples in turns.items()}
        heard = " ".join(str(result) for _, result in measured.values())
        median = statistics.median(ms for ms, _ in measured.values())
        error = word_error_rate(" ".join(TURNS), heard)
        print(f"Whisper, {name}: {median:.0f} ms CPU per turn, WER {error:.3f}")

    first, *_ = first_clause_apart(bounded_phrases(voice.phonemize(ANSWER)))
    first_ms, _ = cpu_ms(lambda: _phrase_audio(voice, first))
    print(f"Piper, the answer's first phrase ({''.join(first)!r}): {first_ms:.0f} ms CPU")


if __name__ == "__main__":
    main()
