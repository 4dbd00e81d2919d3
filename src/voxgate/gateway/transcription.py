"""The transcription and translation tasks: audio in, text out."""

from dataclasses import dataclass
from typing import Any

from voxgate.audio.pcm import PcmAudio
from voxgate.billing.pricing import Metered
from voxgate.catalog.schema import ModelRow
from voxgate.gateway.jobs import DEFAULT_OPTIONS, JobOptions, Outcome
from voxgate.gateway.validation import UnifiedRequest
from voxgate.providers.protocols import TranscriptionProvider, TranscriptionRequest
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.types import Task


@dataclass(frozen=True)
class TranscriptionJob:
    row: ModelRow
    request: UnifiedRequest
    audio: PcmAudio
    providers: ProviderRegistry
    task: Task = "transcription"
    options: JobOptions = DEFAULT_OPTIONS

    @property
    def audio_milliseconds(self) -> int:
        return round(self.audio.duration_seconds * 1000)

    def plan(self, planner: RoutePlanner) -> list[PlannedAttempt[Any]]:
        return list(planner.plan(self.row, self.providers.transcription))

    def worst_case(self) -> list[Metered]:
        return [Metered(audio_milliseconds=self.audio_milliseconds)]

    async def run(self, attempt: PlannedAttempt[TranscriptionProvider]) -> Outcome:
        request = TranscriptionRequest(
            audio=self.audio,
            translate=self.task == "translation",
            language=self.request.language,
            prompt=self.request.prompt,
            word_timestamps=self.options.word_timestamps,
        )
        result = await attempt.provider.transcribe(request, attempt.upstream)
        data = {
            "text": result.text,
            "language": result.language,
            "duration": round(result.duration_seconds, 3),
        }
        return Outcome(data, Metered(audio_milliseconds=self.audio_milliseconds), result)
