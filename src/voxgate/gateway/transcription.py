"""The transcription and translation tasks: audio in, text out, whole or streamed.

A streamed transcript is OpenAI's `transcript.text.*` events: relayed as the provider sends them
where the route's model streams, made from the whole answer where it does not.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
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
from voxgate.providers.protocols import (
    TranscriptEvent,
    TranscriptionProvider,
    TranscriptionRequest,
    whole_transcript_events,
)
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
        return [self.metered]

    @property
    def content_type(self) -> str:
        return "text/event-stream"

    def transcription_request(self) -> TranscriptionRequest:
        return TranscriptionRequest(
            audio=self.audio,
            translate=self.task == "translation",
            language=self.request.language,
            prompt=self.request.prompt,
            word_timestamps=self.options.word_timestamps,
            upload=self.upload,
            container=container_of(self.upload),
            params=self.options.params,
        )

    async def run(self, attempt: PlannedAttempt[TranscriptionProvider]) -> Outcome:
        request = self.transcription_request()
        result = await attempt.provider.transcribe(request, attempt.upstream)
        data = {
            "text": result.text,
            "language": result.language,
            "duration": round(result.duration_seconds, 3),
        }
        return Outcome(data, self.metered, result)

    async def stream(self, attempt: PlannedAttempt[Any]) -> AsyncIterator[TranscriptEvent]:
        """The transcript's events, ending with `transcript.text.done`: the provider's own where
        it streams them, else made from its whole answer."""
        request = self.transcription_request()
        streaming = self.providers.transcription_stream.get(attempt.route.provider)
        if streaming is None:
            whole = await attempt.provider.transcribe(request, attempt.upstream)
            for event in whole_transcript_events(whole):
                yield event
            return
        events = streaming.stream_transcription(request, attempt.upstream)
        async with aclosing(events):  # type: ignore[type-var]
            async for event in events:
                yield event

    def meter(self) -> "TranscriptMeter":
        return TranscriptMeter(self.metered)

    @property
    def metered(self) -> Metered:
        return Metered(audio_milliseconds=self.audio_milliseconds)

    def _check_params(self) -> None:
        """A parameter is forwarded where a route takes it; one that none of the row's routes
        takes (configured or not) is refused rather than dropped."""
        declared = (self.providers.declarations.get(route.provider) for route in self.row.routes)
        refuse_unforwarded(self.row, self.options.params, [d for d in declared if d is not None])


@dataclass
class TranscriptMeter:
    """A streamed transcript is billed for the whole audio once any of it reached the client.

    The provider has taken in the whole upload before it sends the first word, and charges for
    all of it (by duration, or by audio tokens for the whole file) however early the stream is
    cut; a part of the text says nothing of how much of the audio it covers. So a stream cut
    after its first delta costs what a finished one does, and one the client never received a
    delta of is released (the stream's path settles only what was delivered).
    """

    whole: Metered
    delivered_any: bool = False

    def add(self, chunk: TranscriptEvent) -> None:
        self.delivered_any = True

    @property
    def delivered(self) -> Metered:
        return self.whole if self.delivered_any else Metered()


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
