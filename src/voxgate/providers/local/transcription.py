"""Speech-to-text and translation into English on the embedded engine with faster-whisper."""

import threading
from functools import partial

import numpy as np
import numpy.typing as npt

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.local.engine import LocalEngine, stop_if_asked
from voxgate.providers.local.models import RecognizerSpec
from voxgate.providers.local.turns import decode_turn, fits_turn_window
from voxgate.providers.protocols import (
    ProviderUsage,
    TranscriptionRequest,
    TranscriptionResult,
    TranscriptSegment,
    TranscriptWord,
    Upstream,
)

WHISPER_SAMPLE_RATE = 16_000
INT16_SCALE = 32_768.0
ENGLISH = "en"


class LocalTranscription:
    def __init__(self, engine: LocalEngine) -> None:
        self._engine = engine

    async def transcribe(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> TranscriptionResult:
        spec = self._engine.models.recognizer(upstream.model)
        check_supported(upstream.model, spec, request)
        job = partial(self._recognize, upstream.model, spec, request)
        return await self._engine.run(job)

    def _recognize(
        self,
        model_name: str,
        spec: RecognizerSpec,
        request: TranscriptionRequest,
        stop: threading.Event,
    ) -> TranscriptionResult:
        model = self._engine.recognizer(model_name)
        stop_if_asked(stop)  # a first use loads the model for seconds: the caller may be gone
        samples = whisper_samples(request.audio)
        language = turn_language(request, samples)
        if language is not None:
            text = decode_turn(model, samples, language)
            if text is not None:
                return turn_result(text, language, request.audio.duration_seconds)
        segments, info = model.transcribe(
            samples,
            language=request.language,
            task="translate" if request.translate else "transcribe",
            initial_prompt=request.prompt,
            beam_size=spec.beam_size,
            vad_filter=spec.vad_filter,
            word_timestamps=request.word_timestamps,
        )
        # faster-whisper decodes lazily, one 30-second window at a time: the segments are drawn
        # here, on the worker, and a caller that went away stops it between windows.
        decoded = []
        for segment in segments:
            stop_if_asked(stop)
            decoded.append(segment)
        return TranscriptionResult(
            # Whisper puts the spaces a language needs between segments at their start.
            text="".join(segment.text for segment in decoded).strip(),
            language=info.language,
            duration_seconds=info.duration,
            segments=tuple(
                TranscriptSegment(float(s.start), float(s.end), s.text.strip()) for s in decoded
            ),
            words=tuple(
                TranscriptWord(float(w.start), float(w.end), w.word.strip())
                for segment in decoded
                for w in segment.words or ()
            ),
            usage=ProviderUsage(audio_seconds=info.duration),
        )


def turn_language(request: TranscriptionRequest, samples: npt.NDArray[np.float32]) -> str | None:
    """The language to decode a spoken turn in the quick way, or None when it asks for what
    that way cannot give (it detects no language, translates nothing, times no words)."""
    plain = not (request.translate or request.prompt or request.word_timestamps)
    quick = request.spoken_turn and plain and fits_turn_window(samples, WHISPER_SAMPLE_RATE)
    return request.language if quick else None


def turn_result(text: str, language: str, seconds: float) -> TranscriptionResult:
    return TranscriptionResult(
        text=text,
        language=language,
        duration_seconds=seconds,
        segments=(TranscriptSegment(0.0, seconds, text),) if text else (),
        words=(),
        usage=ProviderUsage(audio_seconds=seconds),
    )


def check_supported(model_name: str, spec: RecognizerSpec, request: TranscriptionRequest) -> None:
    """Refuse what the model cannot do; the gateway validates first, this is the last guard."""
    if request.audio.sample_rate != WHISPER_SAMPLE_RATE:
        raise ValueError(f"Whisper needs {WHISPER_SAMPLE_RATE} Hz audio")
    if spec.multilingual:
        return
    if request.translate:
        raise ValueError(f"{model_name} knows English only and cannot translate")
    if request.language not in (None, ENGLISH):
        raise ValueError(f"{model_name} knows English only, not {request.language!r}")


def whisper_samples(audio: PcmAudio) -> npt.NDArray[np.float32]:
    return np.frombuffer(audio.samples, dtype="<i2").astype(np.float32) / INT16_SCALE
