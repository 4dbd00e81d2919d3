"""The tts task: text in, audio in the requested format out."""

import base64
import math
import unicodedata
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from voxgate.audio.encode import encode_off_loop
from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.audio.pcm import PcmAudio
from voxgate.audio.stream import StreamEncoder
from voxgate.billing.metering import TokenCounter
from voxgate.billing.pricing import Metered
from voxgate.catalog.schema import ModelRow, VoiceTable
from voxgate.gateway.chat import AUDIO_OUTPUT_TOKENS_PER_SECOND
from voxgate.gateway.jobs import Outcome
from voxgate.gateway.validation import UnifiedRequest
from voxgate.providers.protocols import SpeechProvider, SpeechRequest, Upstream
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.types import AudioFormat, Task

FALLBACK_FORMAT: AudioFormat = "mp3"
SLOWEST_SECONDS_PER_CHARACTER = 0.15
# How many letters a character becomes when read aloud, at most: an emoji is read by its name
# ("smiling face with heart-shaped eyes"), a digit by its number words.
SPOKEN_SYMBOL_LETTERS = 40
SPOKEN_DIGIT_LETTERS = 10
SPOKEN_OTHER_SCRIPT_LETTERS = 3


def spoken_length(text: str) -> int:
    """The letters `text` can take to say, for a hold that bounds speech priced by duration."""
    return sum(_spoken_letters(character) for character in text)


def _spoken_letters(character: str) -> int:
    if character.isascii():
        return SPOKEN_DIGIT_LETTERS if character.isdigit() else 1
    if unicodedata.category(character).startswith("S"):
        return SPOKEN_SYMBOL_LETTERS
    return SPOKEN_OTHER_SCRIPT_LETTERS


@dataclass(frozen=True, slots=True)
class SpeechChunk:
    """Encoded audio ready to send, and how long it plays."""

    data: bytes
    seconds: float


@dataclass
class SpeechMeter:
    job: "SpeechJob"
    seconds: float = 0.0

    def add(self, chunk: SpeechChunk) -> None:
        self.seconds += chunk.seconds

    @property
    def delivered(self) -> Metered:
        return self.job.metered(self.seconds)


@dataclass(frozen=True)
class SpeechJob:
    row: ModelRow
    request: UnifiedRequest
    voices: VoiceTable
    providers: ProviderRegistry
    tokens: TokenCounter
    task: Task = "tts"

    @property
    def response_format(self) -> AudioFormat:
        return self.request.response_format or self.row.default_format or FALLBACK_FORMAT

    @property
    def content_type(self) -> str:
        return OUTPUT_FORMATS[self.response_format].content_type

    def plan(self, planner: RoutePlanner) -> list[PlannedAttempt[Any]]:
        return list(planner.plan(self.row, self.providers.speech))

    def worst_case(self) -> list[Metered]:
        # Slow speech runs about 0.15 s per spoken character; a faster speed shortens it. A
        # provider may speak its instructions too (Gemini takes them in the prompt).
        spoken = spoken_length(self.request.input) + spoken_length(self.request.instructions or "")
        seconds = spoken * SLOWEST_SECONDS_PER_CHARACTER / (self.request.speed or 1.0)
        tokens = math.ceil(seconds * AUDIO_OUTPUT_TOKENS_PER_SECOND)
        return [replace(self._metered_input, audio_output_tokens=tokens)]

    @cached_property
    def _metered_input(self) -> Metered:
        # Counted once: the hold and the settlement both price the same text.
        prompt = self.request.input + (self.request.instructions or "")
        return Metered(
            characters=len(self.request.input),
            text_input_tokens=self.tokens.count(prompt),
        )

    def speech_request(self, attempt: PlannedAttempt[Any]) -> SpeechRequest:
        """The request as the attempt's provider takes it, with its own voice name."""
        voice = self.request.voice or self.row.default_voice or "alloy"
        return SpeechRequest(
            text=self.request.input,
            voice=self.voices.native_voice(voice, attempt.route.provider),
            speed=self.request.speed or 1.0,
            instructions=self.request.instructions,
            response_format=self.response_format,
        )

    def metered(self, seconds: float, reported_audio_tokens: int | None = None) -> Metered:
        tokens = reported_audio_tokens
        if tokens is None:
            tokens = math.ceil(seconds * AUDIO_OUTPUT_TOKENS_PER_SECOND)
        return replace(
            self._metered_input,
            audio_milliseconds=round(seconds * 1000),
            audio_output_tokens=tokens,
        )

    async def run(self, attempt: PlannedAttempt[SpeechProvider]) -> Outcome:
        result = await attempt.provider.synthesize(self.speech_request(attempt), attempt.upstream)
        audio = await encode_off_loop(result.audio, self.response_format)
        data = {
            "content_type": OUTPUT_FORMATS[self.response_format].content_type,
            "audio_base64": base64.b64encode(audio).decode("ascii"),
        }
        metered = self.metered(result.audio.duration_seconds, result.usage.output_audio_tokens)
        return Outcome(data, metered, result)

    async def stream(self, attempt: PlannedAttempt[Any]) -> AsyncIterator[SpeechChunk]:
        """The audio encoded as it arrives; a provider that cannot stream answers whole."""
        encoder = StreamEncoder(self.response_format)
        source = self._pcm(attempt)
        async with aclosing(source):  # type: ignore[type-var]
            async for pcm in source:
                yield SpeechChunk(encoder.feed(pcm), pcm.duration_seconds)
        yield SpeechChunk(encoder.finish(), 0.0)

    def meter(self) -> SpeechMeter:
        return SpeechMeter(self)

    def _pcm(self, attempt: PlannedAttempt[Any]) -> AsyncIterator[PcmAudio]:
        request = self.speech_request(attempt)
        streaming = self.providers.speech_stream.get(attempt.route.provider)
        if streaming is not None:
            return streaming.stream_speech(request, attempt.upstream)
        return _whole(attempt.provider, request, attempt.upstream)


async def _whole(
    provider: SpeechProvider, request: SpeechRequest, upstream: Upstream
) -> AsyncIterator[PcmAudio]:
    result = await provider.synthesize(request, upstream)
    yield result.audio
