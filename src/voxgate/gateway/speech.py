"""The tts task: text in, audio in the requested format out."""

import base64
import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from opentelemetry.trace import NoOpTracer, Tracer

from voxgate.audio.encode import encode_off_loop
from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.audio.pcm import PcmAudio
from voxgate.audio.stream import StreamEncoder
from voxgate.billing.metering import TokenCounter, usage_disagrees
from voxgate.billing.pricing import Metered
from voxgate.catalog.schema import ModelRow, VoiceTable
from voxgate.gateway.chat import AUDIO_OUTPUT_TOKENS_PER_SECOND
from voxgate.gateway.jobs import Outcome
from voxgate.gateway.spoken import SLOWEST_SECONDS_PER_LETTER, spoken_length
from voxgate.gateway.validation import UnifiedRequest
from voxgate.providers.protocols import (
    MeteredPcm,
    ProviderUsage,
    SpeechProvider,
    SpeechRequest,
    Upstream,
)
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.types import AudioFormat, Task

FALLBACK_FORMAT: AudioFormat = "mp3"
# The most a provider bills for a second of the audio it makes (Gemini's 25 tokens), so that
# the hold bounds every route.
MOST_AUDIO_TOKENS_PER_SECOND = 25


@dataclass(frozen=True, slots=True)
class SpeechChunk:
    """Encoded audio ready to send and how long it plays; the seconds of audio the provider made
    for it (before any change of speed), what it bills a second of that, and the usage it
    reported so far, if any."""

    data: bytes
    seconds: float
    made: float = 0.0
    tokens_per_second: int = AUDIO_OUTPUT_TOKENS_PER_SECOND
    usage: ProviderUsage | None = None


@dataclass
class SpeechMeter:
    job: "SpeechJob"
    seconds: float = 0.0
    made_tokens: float = 0.0
    reported: int | None = None

    def add(self, chunk: SpeechChunk) -> None:
        self.seconds += chunk.seconds
        self.made_tokens += chunk.made * chunk.tokens_per_second
        if chunk.usage is not None and chunk.usage.output_audio_tokens is not None:
            self.reported = chunk.usage.output_audio_tokens

    @property
    def delivered(self) -> Metered:
        """The provider's own count where it gave one, else the audio it made, measured."""
        tokens = self.reported if self.reported is not None else math.ceil(self.made_tokens)
        return self.job.metered(self.seconds, tokens)


@dataclass(frozen=True)
class SpeechJob:
    row: ModelRow
    request: UnifiedRequest
    voices: VoiceTable
    providers: ProviderRegistry
    tokens: TokenCounter
    task: Task = "tts"
    # Where the encoding of a whole answer is traced (a span within the attempt's).
    tracer: Tracer = field(default_factory=NoOpTracer)

    @property
    def response_format(self) -> AudioFormat:
        return self.request.response_format or self.row.default_format or FALLBACK_FORMAT

    @property
    def content_type(self) -> str:
        return OUTPUT_FORMATS[self.response_format].content_type

    @property
    def voice(self) -> str:
        """The voice asked for, else the model's default, by its catalog (OpenAI) name."""
        return self.request.voice or self.row.default_voice or "alloy"

    def plan(self, planner: RoutePlanner) -> list[PlannedAttempt[Any]]:
        return list(planner.plan(self.row, self.providers.speech))

    def worst_case(self) -> list[Metered]:
        return [replace(self._metered_input, output_audio_tokens=self.most_audio_tokens)]

    @cached_property
    def most_audio_tokens(self) -> int:
        """The most audio tokens the speech can bill. Slow speech runs about 0.15 s per spoken
        letter. A provider may speak its instructions too (Gemini takes them in the prompt);
        a faster speed shortens the speech only where the provider applies it, so a provider
        that speaks at its own pace (the gateway stretching after) is held at that pace."""
        spoken = spoken_length(self.request.input) + spoken_length(self.request.instructions or "")
        speed = min(self.request.speed or 1.0, 1.0)
        seconds = spoken * SLOWEST_SECONDS_PER_LETTER / speed
        return math.ceil(seconds * MOST_AUDIO_TOKENS_PER_SECOND)

    @cached_property
    def _metered_input(self) -> Metered:
        # Counted once: the hold and the settlement both price the same text.
        prompt = self.request.input + (self.request.instructions or "")
        return Metered(
            input_characters=len(self.request.input),
            input_text_tokens=self.tokens.count(prompt),
        )

    def speech_request(self, attempt: PlannedAttempt[Any]) -> SpeechRequest:
        """The request as the attempt's provider takes it, with its own voice name."""
        return SpeechRequest(
            text=self.request.input,
            voice=self.voices.native_voice(self.voice, attempt.route.provider),
            speed=self.request.speed or 1.0,
            instructions=self.request.instructions,
            response_format=self.response_format,
            max_output_tokens=self.most_audio_tokens,
        )

    def metered(self, seconds: float, tokens: int) -> Metered:
        """`seconds` delivered, the provider's `tokens` billed."""
        return replace(
            self._metered_input,
            audio_milliseconds=round(seconds * 1000),
            output_audio_tokens=tokens,
        )

    async def run(self, attempt: PlannedAttempt[SpeechProvider]) -> Outcome:
        result = await attempt.provider.synthesize(self.speech_request(attempt), attempt.upstream)
        with self.tracer.start_as_current_span(
            "encode audio",
            attributes={
                "voxgate.audio.format": self.response_format,
                "voxgate.audio.seconds": result.audio.duration_seconds,
            },
        ):
            audio = await encode_off_loop(result.audio, self.response_format)
        data = {
            "content_type": OUTPUT_FORMATS[self.response_format].content_type,
            "audio_base64": base64.b64encode(audio).decode("ascii"),
        }
        delivered = result.audio.duration_seconds
        made = result.made_seconds if result.made_seconds is not None else delivered
        rate = self._tokens_per_second(attempt)
        tokens = result.usage.output_audio_tokens
        return Outcome(
            data,
            self.metered(delivered, math.ceil(made * rate) if tokens is None else tokens),
            result,
            # Priced by its audio tokens, a speech answer without them is the gateway's measure.
            estimated=tokens is None and self._priced_by_tokens,
            usage_mismatch=tokens is not None and usage_disagrees(tokens, made, rate),
        )

    async def stream(self, attempt: PlannedAttempt[Any]) -> AsyncIterator[SpeechChunk]:
        """The audio encoded as it arrives; a provider that cannot stream answers whole."""
        encoder = StreamEncoder(self.response_format)
        source = self._pcm(attempt)
        rate = self._tokens_per_second(attempt)
        async with aclosing(source):  # type: ignore[type-var]
            async for pcm in source:
                seconds = pcm.duration_seconds
                made, usage = (
                    (pcm.made_seconds, pcm.usage)
                    if isinstance(pcm, MeteredPcm)
                    else (seconds, None)
                )
                yield SpeechChunk(encoder.feed(pcm), seconds, made, rate, usage)
        yield SpeechChunk(encoder.finish(), 0.0, 0.0, rate)

    def meter(self) -> SpeechMeter:
        return SpeechMeter(self)

    @property
    def _priced_by_tokens(self) -> bool:
        pricing = self.row.pricing
        return (pricing.audio_output_per_1m_tokens or pricing.text_output_per_1m_tokens) is not None

    def _tokens_per_second(self, attempt: PlannedAttempt[Any]) -> int:
        declared = self.providers.entry(attempt.route.provider).declaration.speech_output
        return declared.audio_tokens_per_second if declared else AUDIO_OUTPUT_TOKENS_PER_SECOND

    def _pcm(self, attempt: PlannedAttempt[Any]) -> AsyncIterator[PcmAudio]:
        request = self.speech_request(attempt)
        streaming = self.providers.entry(attempt.route.provider).speech_stream
        if streaming is not None:
            return streaming.stream_speech(request, attempt.upstream)
        return _whole(attempt.provider, request, attempt.upstream)


async def _whole(
    provider: SpeechProvider, request: SpeechRequest, upstream: Upstream
) -> AsyncIterator[PcmAudio]:
    result = await provider.synthesize(request, upstream)
    yield result.audio
