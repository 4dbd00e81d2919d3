"""A cascade's two side legs, hear (speech-to-text) and speak (speech), each on its own
catalog model's routes through the gateway's one failover loop; a request's legs note their
attempts on its usage record."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from voxgate.audio.pcm import PcmAudio
from voxgate.billing.metering import TokenCounter
from voxgate.billing.usage import Attempt
from voxgate.catalog.schema import ModelRow, VoiceTable
from voxgate.errors import GatewayError
from voxgate.providers.protocols import (
    SpeechRequest,
    SpeechResult,
    TranscriptionRequest,
    TranscriptionResult,
)
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.failover import AttemptsFailed, Success
from voxgate.routing.planner import PlannedAttempt, RoutePlanner

ResultT = TypeVar("ResultT")


class FailoverLoop(Protocol):
    """The gateway's one failover loop (AudioGateway.attempts): breaker, backoff, Retry-After,
    deadline, and each attempt observed in the metrics."""

    async def __call__(
        self,
        model: str,
        attempts: list[PlannedAttempt[Any]],
        run: Callable[[PlannedAttempt[Any]], Awaitable[ResultT]],
    ) -> Success[ResultT]: ...


def _unnoted(log: tuple[Attempt, ...]) -> None:
    """Legs that belong to no one request (a realtime session draws each leg itself)."""


@dataclass(frozen=True)
class Legs:
    """What the cascade's legs run on, besides the chat route the pipeline gives it."""

    hear: ModelRow
    speak: ModelRow
    planner: RoutePlanner
    providers: ProviderRegistry
    voices: VoiceTable
    tokens: TokenCounter
    failover: FailoverLoop
    # Where a request's legs put their attempts: its Charge, for its usage record.
    note: Callable[[tuple[Attempt, ...]], None] = _unnoted

    async def heard(self, audio: PcmAudio) -> str:
        """What is said in `audio`, from the transcription leg."""
        request = TranscriptionRequest(audio=audio, language="en")

        async def transcribe(attempt: PlannedAttempt[Any]) -> str:
            result: TranscriptionResult = await attempt.provider.transcribe(
                request, attempt.upstream
            )
            return result.text

        return await self._leg(self.hear, self.providers.transcription, transcribe)

    async def spoken(self, text: str, voice: str) -> PcmAudio:
        """`text` in `voice`, from the speech leg."""

        async def synthesize(attempt: PlannedAttempt[Any]) -> PcmAudio:
            native = self.voices.native_voice(voice, attempt.route.provider)
            speech = SpeechRequest(text=text, voice=native)
            result: SpeechResult = await attempt.provider.synthesize(speech, attempt.upstream)
            return result.audio

        return await self._leg(self.speak, self.providers.speech, synthesize)

    async def _leg(
        self,
        row: ModelRow,
        providers: Any,
        run: Callable[[PlannedAttempt[Any]], Awaitable[ResultT]],
    ) -> ResultT:
        attempts = self.planner.plan(row, providers)
        try:
            success = await self.failover(row.id, attempts, run)
        except GatewayError as exc:
            if isinstance(exc.__cause__, AttemptsFailed):
                self.note(exc.__cause__.log)
            raise
        self.note(success.log)
        return success.result
