"""Speech-to-text with faster-whisper on 16 kHz mono PCM."""

import numpy as np

from voxgate.providers.local.engine import LocalEngine
from voxgate.providers.protocols import (
    TranscriptionRequest,
    TranscriptionResult,
    TranscriptSegment,
    Upstream,
)


async def transcribe(
    engine: LocalEngine, request: TranscriptionRequest, upstream: Upstream
) -> TranscriptionResult:
    files = engine.models.recognizers[upstream.model]
    if not files.multilingual and (request.translate or request.language not in (None, "en")):
        raise ValueError(f"{upstream.model} knows English only and cannot translate")
    return await engine.run(lambda: _transcribe(engine, request, upstream.model))


def _transcribe(
    engine: LocalEngine, request: TranscriptionRequest, model: str
) -> TranscriptionResult:
    samples = np.frombuffer(request.audio.samples, dtype="<i2").astype(np.float32) / 32768.0
    segments, info = engine.recognizer(model).transcribe(
        samples,
        language=request.language,
        task="translate" if request.translate else "transcribe",
        initial_prompt=request.prompt,
        beam_size=engine.models.recognizers[model].beam_size,
        condition_on_previous_text=False,
    )
    parts = tuple(TranscriptSegment(s.start, s.end, s.text.strip()) for s in segments)
    return TranscriptionResult(
        text=" ".join(part.text for part in parts if part.text),
        language=info.language,
        duration_seconds=request.audio.duration_seconds,
        segments=parts,
    )
