"""The transcription and translation tasks: audio in, text out."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from voxgate.audio.pcm import PcmAudio
from voxgate.billing.pricing import Metered
from voxgate.catalog.schema import ModelRow
from voxgate.errors import InvalidRequestError
from voxgate.gateway.inputs import audio_bytes, container_of
from voxgate.gateway.jobs import DEFAULT_OPTIONS, JobOptions, Outcome
from voxgate.gateway.validation import UnifiedRequest
from voxgate.providers.declaration import ProviderDeclaration
from voxgate.providers.protocols import TranscriptionProvider, TranscriptionRequest
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.types import Task

# What every route honours: the gateway renders every response format itself, and every
# recognizer gives segments (the local engine words too). The rest a provider declares it takes.
EVERY_ROUTE = frozenset({"response_format", "timestamp_granularities[]"})


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

    @cached_property
    def upload(self) -> bytes:
        """The client's file as it sent it, to go upstream in its own container."""
        return audio_bytes(self.request.input)

    def plan(self, planner: RoutePlanner) -> list[PlannedAttempt[Any]]:
        self._check_params()
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
            upload=self.upload,
            container=container_of(self.upload),
            params=self.options.params,
        )
        result = await attempt.provider.transcribe(request, attempt.upstream)
        data = {
            "text": result.text,
            "language": result.language,
            "duration": round(result.duration_seconds, 3),
        }
        return Outcome(data, Metered(audio_milliseconds=self.audio_milliseconds), result)

    def _check_params(self) -> None:
        """A parameter is forwarded where a route takes it; one that none of the row's routes
        takes (configured or not) is refused rather than dropped."""
        declared = (self.providers.declarations.get(route.provider) for route in self.row.routes)
        refuse_unforwarded(self.row, self.options.params, [d for d in declared if d is not None])


def refuse_unforwarded(
    row: ModelRow,
    params: tuple[tuple[str, str], ...],
    serving: Sequence[ProviderDeclaration] = (),
) -> None:
    """Refuses, by name, the first parameter beyond those every route honours that none of the
    `serving` providers declares it takes. Chat and cascade rows transcribe through a chat
    model, which takes none of them: they name no provider."""
    for name, _ in params:
        if name not in EVERY_ROUTE and not any(
            provider.takes_transcription_parameter(name) for provider in serving
        ):
            raise InvalidRequestError(
                f"Model '{row.id}' has no route that takes '{name}' (its routes: "
                f"{', '.join(route.provider for route in row.routes)}); leave it out.",
                param=name,
                code="unsupported_parameter",
            )
