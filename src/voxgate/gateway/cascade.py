"""Audio chat on any text model: hear (speech-to-text), answer (text chat), speak (speech).

Each leg runs on its own catalog model's routes with the same failover; the cascade row's
prices bill the three together.
"""

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from voxgate.audio.encode import encode_off_loop
from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.audio.pcm import PcmAudio
from voxgate.billing.metering import TokenCounter
from voxgate.billing.pricing import Metered
from voxgate.catalog.schema import ModelRow, VoiceTable
from voxgate.gateway.chat import output_cap, reported_or_measured
from voxgate.gateway.failures import client_error
from voxgate.gateway.jobs import Outcome
from voxgate.gateway.validation import UnifiedRequest
from voxgate.providers.protocols import (
    ChatAudioProvider,
    ChatAudioRequest,
    SpeechRequest,
    SpeechResult,
    TranscriptionRequest,
    TranscriptionResult,
)
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.breaker import Breaker
from voxgate.routing.failover import AttemptsFailed, RetryPolicy, first_success
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.types import AudioFormat, Task

ResultT = TypeVar("ResultT")
# Replies are bounded by the row's output cap; a token is at most this many characters.
CHARACTERS_PER_TOKEN_CEILING = 8


@dataclass(frozen=True)
class Legs:
    """What the cascade's legs run on, besides the chat route the pipeline gives it."""

    hear: ModelRow
    speak: ModelRow
    planner: RoutePlanner
    providers: ProviderRegistry
    voices: VoiceTable
    tokens: TokenCounter
    retry: RetryPolicy
    breaker: Breaker


@dataclass(frozen=True)
class CascadeJob:
    row: ModelRow
    request: UnifiedRequest
    audio: PcmAudio | None
    legs: Legs
    task: Task = "audio_chat"

    @property
    def response_format(self) -> AudioFormat:
        return self.request.response_format or self.row.default_format or "mp3"

    def plan(self, planner: RoutePlanner) -> list[PlannedAttempt[Any]]:
        # Every leg must be servable before any credit is held.
        if self.audio is not None:
            planner.plan(self.legs.hear, self.legs.providers.transcription)
        planner.plan(self.legs.speak, self.legs.providers.speech)
        return list(planner.plan(self.row, self.legs.providers.chat))

    def worst_case(self) -> list[Metered]:
        out = output_cap(self.row)
        heard = self.audio.duration_seconds if self.audio else 0.0
        question = self.request.input if self.audio is None else ""
        return [
            Metered(
                text_input_tokens=self.legs.tokens.count(
                    (self.request.instructions or "") + question
                )
                + round(heard * 10),
                text_output_tokens=out,
                audio_milliseconds=round(heard * 1000),
                characters=out * CHARACTERS_PER_TOKEN_CEILING,
            )
        ]

    async def run(self, attempt: PlannedAttempt[ChatAudioProvider]) -> Outcome:
        question = await self._hear() if self.audio is not None else self.request.input
        chat = ChatAudioRequest(
            system=self.request.instructions,
            text=question,
            max_output_tokens=output_cap(self.row),
        )
        answer = await attempt.provider.chat(chat, attempt.upstream)
        spoken = await self._speak(answer.text)
        audio = await encode_off_loop(spoken, self.response_format)
        data = {
            "content_type": OUTPUT_FORMATS[self.response_format].content_type,
            "audio_base64": base64.b64encode(audio).decode("ascii"),
            "transcript": answer.text,
            "input_transcript": question,
        }
        tokens = self.legs.tokens
        metered = Metered(
            text_input_tokens=reported_or_measured(
                answer.usage.input_text_tokens, tokens.count((chat.system or "") + question)
            ),
            text_output_tokens=reported_or_measured(
                answer.usage.output_text_tokens, tokens.count(answer.text)
            ),
            audio_milliseconds=round(self.audio.duration_seconds * 1000) if self.audio else 0,
            characters=len(answer.text),
        )
        return Outcome(data, metered, answer)

    async def _hear(self) -> str:
        assert self.audio is not None
        request = TranscriptionRequest(audio=self.audio, language="en")

        async def transcribe(attempt: PlannedAttempt[Any]) -> str:
            result: TranscriptionResult = await attempt.provider.transcribe(
                request, attempt.upstream
            )
            return result.text

        return await self._leg(self.legs.hear, self.legs.providers.transcription, transcribe)

    async def _speak(self, text: str) -> PcmAudio:
        voice = self.request.voice or self.row.default_voice or "alloy"

        async def synthesize(attempt: PlannedAttempt[Any]) -> PcmAudio:
            native = self.legs.voices.native_voice(voice, attempt.route.provider)
            speech = SpeechRequest(text=text, voice=native)
            result: SpeechResult = await attempt.provider.synthesize(speech, attempt.upstream)
            return result.audio

        return await self._leg(self.legs.speak, self.legs.providers.speech, synthesize)

    async def _leg(
        self,
        row: ModelRow,
        providers: Any,
        run: Callable[[PlannedAttempt[Any]], Awaitable[ResultT]],
    ) -> ResultT:
        attempts = self.legs.planner.plan(row, providers)
        try:
            success = await first_success(attempts, run, self.legs.retry, self.legs.breaker)
        except AttemptsFailed as failed:
            raise client_error(row.id, failed) from failed
        return success.result
