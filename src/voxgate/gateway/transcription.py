"""The transcription and translation tasks: audio in, text out, whole or streamed.

A streamed transcript is OpenAI's `transcript.text.*` events: relayed as the provider sends them
where the route's model streams, made from the whole answer where it does not.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from typing import Any

from voxgate.audio.pcm import PcmAudio
from voxgate.billing.pricing import Metered
from voxgate.catalog.schema import ModelRow
from voxgate.errors import InvalidRequestError
from voxgate.gateway.inputs import container_of
from voxgate.gateway.jobs import DEFAULT_OPTIONS, JobOptions, Outcome
from voxgate.gateway.long_audio import fits, in_bounded_parallel, split_at_silences, stitch
from voxgate.gateway.validation import UnifiedRequest
from voxgate.providers.declaration import ProviderDeclaration, UploadLimit
from voxgate.providers.protocols import (
    TranscriptEvent,
    TranscriptionProvider,
    TranscriptionRequest,
    TranscriptionResult,
    whole_transcript_events,
)
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.types import Task

# What every route honours: the gateway renders every response format itself, and every
# recognizer gives segments (the local engine words too). The rest a provider declares it takes.
EVERY_ROUTE = frozenset({"response_format", "timestamp_granularities[]"})
# How many pieces of audio past a route's upload limit are sent at once.
PARALLEL_PIECES = 3


@dataclass(frozen=True)
class TranscriptionJob:
    row: ModelRow
    request: UnifiedRequest
    audio: PcmAudio
    # The client's file as it sent it, to go upstream in its own container.
    upload: bytes
    providers: ProviderRegistry
    task: Task = "transcription"
    options: JobOptions = DEFAULT_OPTIONS
    parallel_pieces: int = PARALLEL_PIECES

    @property
    def audio_milliseconds(self) -> int:
        return round(self.audio.duration_seconds * 1000)

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
        limit = self._upload_limit(attempt)
        if limit is not None:
            result = await self._in_pieces(attempt, limit)
        else:
            result = await attempt.provider.transcribe(
                self.transcription_request(), attempt.upstream
            )
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
        streaming = self.providers.entry(attempt.route.provider).transcription_stream
        limit = self._upload_limit(attempt)
        if streaming is None or limit is not None:
            whole = (
                await attempt.provider.transcribe(request, attempt.upstream)
                if limit is None
                else await self._in_pieces(attempt, limit)
            )
            for event in whole_transcript_events(whole):
                yield event
            return
        events = streaming.stream_transcription(request, attempt.upstream)
        async with aclosing(events):  # type: ignore[type-var]
            async for event in events:
                yield event

    def _upload_limit(self, attempt: PlannedAttempt[Any]) -> UploadLimit | None:
        """The route's upload limit where what would go upstream is past it (the client's file
        where the provider takes its container, else the decoded samples in a WAV)."""
        limit = self.providers.entry(attempt.route.provider).declaration.transcription_upload
        if limit is None:
            return None
        if container_of(self.upload) in limit.containers and len(self.upload) <= limit.max_bytes:
            return None
        return None if fits(self.audio, limit.max_bytes) else limit

    async def _in_pieces(
        self, attempt: PlannedAttempt[TranscriptionProvider], limit: UploadLimit
    ) -> TranscriptionResult:
        """The audio in pieces within the route's limit, all on this attempt's route (a piece
        that fails fails the attempt, and the failover loop tries the next route whole), stitched
        into one answer. The pieces go as decoded samples, so none carries the client's file."""
        whole = self.transcription_request()
        pieces = split_at_silences(self.audio, limit.max_bytes)
        requests = [
            whole.model_copy(update={"audio": piece.audio, "upload": None, "container": None})
            for piece in pieces
        ]
        results = await in_bounded_parallel(
            [
                partial(attempt.provider.transcribe, request, attempt.upstream)
                for request in requests
            ],
            self.parallel_pieces,
        )
        return stitch(pieces, results, self.audio.duration_seconds)

    def meter(self) -> "TranscriptMeter":
        return TranscriptMeter(self.metered)

    @property
    def metered(self) -> Metered:
        return Metered(audio_milliseconds=self.audio_milliseconds)

    def _check_params(self) -> None:
        """A parameter is forwarded where a route takes it; one that none of the row's routes
        takes (configured or not) is refused rather than dropped."""
        declared = (self.providers.declaration(route.provider) for route in self.row.routes)
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
