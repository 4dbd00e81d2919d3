"""The job of a unified request (`POST /api/v1/audio`): the body validated against the catalog,
its task resolved, its audio decoded (only once the model's minimum is held), and the job of the
model's interface built: a cascade, a chat, speech or a transcription."""

from dataclasses import dataclass, replace

from opentelemetry.trace import Tracer

from voxgate.audio.pcm import PcmAudio
from voxgate.billing.metering import TokenCounter
from voxgate.catalog.loader import Catalog
from voxgate.catalog.schema import ModelRow
from voxgate.gateway.cascade import CascadeJob
from voxgate.gateway.cascade_legs import FailoverLoop, Legs
from voxgate.gateway.charge import Charge
from voxgate.gateway.chat import ChatJob
from voxgate.gateway.inputs import (
    CHAT_SAMPLE_RATE,
    RECOGNIZER_SAMPLE_RATE,
    decoded_input,
)
from voxgate.gateway.jobs import Job, JobOptions
from voxgate.gateway.speech import SpeechJob
from voxgate.gateway.tasks import is_speech_to_text, resolve_task
from voxgate.gateway.transcription import TranscriptionJob
from voxgate.gateway.validation import UnifiedRequest, validate
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.planner import RoutePlanner
from voxgate.settings import Settings
from voxgate.types import Task


@dataclass(frozen=True, slots=True)
class UnifiedJobs:
    """Builds each unified request's job, and a cascade's legs."""

    settings: Settings
    catalog: Catalog
    providers: ProviderRegistry
    planner: RoutePlanner
    tokens: TokenCounter
    tracer: Tracer
    failover: FailoverLoop

    async def build(
        self, body: object, options: JobOptions, charge: Charge, *, streamed: bool = False
    ) -> tuple[ModelRow, Task, Job]:
        row, request = validate(body, self.catalog)
        task = resolve_task(row, request)
        charge.identify(row, task)
        return row, task, await self._job(row, task, request, options, charge, streamed)

    async def _job(
        self,
        row: ModelRow,
        task: Task,
        request: UnifiedRequest,
        options: JobOptions,
        charge: Charge,
        streamed: bool,
    ) -> Job:
        if row.cascade is not None:
            audio = (
                await self._audio_input(request.audio_file(), RECOGNIZER_SAMPLE_RATE, charge, row)
                if request.holds_audio
                else None
            )
            return CascadeJob(row, request, audio, self.legs(row, charge))
        if row.interface == "chat":
            audio = (
                await self._audio_input(request.audio_file(), CHAT_SAMPLE_RATE, charge, row)
                if is_speech_to_text(task)
                else None
            )
            voices = self.catalog.voices
            return ChatJob(
                row, request, task, audio, voices, self.providers, self.tokens, streamed=streamed
            )
        if task == "tts":
            voices = self.catalog.voices
            return SpeechJob(row, request, voices, self.providers, self.tokens, tracer=self.tracer)
        if is_speech_to_text(task):
            upload = request.audio_file()
            audio = await self._audio_input(upload, RECOGNIZER_SAMPLE_RATE, charge, row)
            return TranscriptionJob(
                row,
                request,
                audio,
                upload,
                self.providers,
                task=task,
                options=options,
                parallel_pieces=self.settings.transcription_parallel_pieces,
            )
        # No provider in this build serves the task, so every route counts as unconfigured.
        raise self.planner.unavailable(row, lambda provider: None)

    def legs(self, row: ModelRow, charge: Charge | None = None) -> Legs:
        """A cascade row's legs, through the one failover loop; a request's legs note their
        attempts on its `charge`."""
        assert row.cascade is not None
        hear, speak = (
            self.catalog.get(row.cascade.transcription),
            self.catalog.get(row.cascade.speech),
        )
        assert hear is not None and speak is not None, "the catalog checks cascade legs at load"
        legs = Legs(
            hear,
            speak,
            self.planner,
            self.providers,
            self.catalog.voices,
            self.tokens,
            self.failover,
        )
        return legs if charge is None else replace(legs, note=charge.note_attempts)

    async def _audio_input(
        self, data: bytes, sample_rate: int, charge: Charge, row: ModelRow
    ) -> PcmAudio:
        await charge.cover_decoding(row)
        with self.tracer.start_as_current_span(
            "decode audio", attributes={"voxgate.audio.bytes": len(data)}
        ) as span:
            audio = await decoded_input(
                data, sample_rate=sample_rate, max_seconds=self.settings.max_audio_seconds
            )
            span.set_attribute("voxgate.audio.seconds", audio.duration_seconds)
        return audio
