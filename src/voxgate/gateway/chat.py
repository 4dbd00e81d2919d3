"""Every task on an audio chat model, through chat completions with audio.

tts speaks the input verbatim; transcription and translation send the audio as an input_audio
part with a fixed prompt; audio_chat answers in speech with its transcript.
"""

import base64
import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from voxgate.audio.encode import encode_off_loop
from voxgate.audio.formats import OUTPUT_FORMATS, OUTPUT_SAMPLE_RATE
from voxgate.audio.pcm import PcmAudio
from voxgate.audio.stream import StreamEncoder
from voxgate.audio.tempo import change_tempo
from voxgate.billing.metering import TokenCounter
from voxgate.billing.pricing import Metered
from voxgate.catalog.schema import ModelRow, VoiceTable
from voxgate.errors import InvalidRequestError
from voxgate.gateway.jobs import Outcome
from voxgate.gateway.validation import UnifiedRequest
from voxgate.providers.errors import UpstreamError
from voxgate.providers.protocols import (
    ChatAudioProvider,
    ChatAudioRequest,
    ChatAudioResult,
    ProviderUsage,
)
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.types import AudioFormat, Task

SPEAK_VERBATIM = (
    "Read the user's text aloud exactly as written, word for word. Add nothing, answer nothing."
)
TRANSCRIBE = "Transcribe the user's audio verbatim. Reply with the transcript only."
TRANSLATE = "Translate the user's speech into English. Reply with the translation only."
# OpenAI's audio models bill about 10 tokens per second of audio in and 20 out; the hold
# assumes twice that so that it is never short.
AUDIO_INPUT_TOKENS_PER_SECOND = 10
AUDIO_OUTPUT_TOKENS_PER_SECOND = 20
HOLD_MARGIN = 2
# How long a chat answer's audio can be referred to by its id, as OpenAI keeps it.
AUDIO_LIFETIME_SECONDS = 3600


@dataclass(frozen=True)
class ChatJob:
    row: ModelRow
    request: UnifiedRequest
    task: Task
    audio: PcmAudio | None
    voices: VoiceTable
    providers: ProviderRegistry
    tokens: TokenCounter
    # A streamed answer is planned only over the routes whose provider streams chat.
    streamed: bool = False

    @property
    def speaks(self) -> bool:
        return self.task in ("tts", "audio_chat")

    @property
    def response_format(self) -> AudioFormat:
        return self.request.response_format or self.row.default_format or "mp3"

    def plan(self, planner: RoutePlanner) -> list[PlannedAttempt[Any]]:
        providers = self.providers.chat_stream if self.streamed else self.providers.chat
        return list(planner.plan(self.row, providers))

    def worst_case(self) -> list[Metered]:
        text_in = self.tokens.count(self._system() or "") + self.tokens.count(
            self._user_text() or ""
        )
        audio_seconds = self.audio.duration_seconds if self.audio else 0.0
        out = output_cap(self.row)
        base = Metered(
            text_input_tokens=text_in,
            audio_input_tokens=math.ceil(
                audio_seconds * AUDIO_INPUT_TOKENS_PER_SECOND * HOLD_MARGIN
            ),
        )
        return [replace(base, text_output_tokens=out), replace(base, audio_output_tokens=out)]

    @property
    def content_type(self) -> str:
        return OUTPUT_FORMATS[self.response_format].content_type

    def chat_request(self, attempt: PlannedAttempt[Any]) -> ChatAudioRequest:
        voice = self.request.voice or self.row.default_voice or "alloy"
        return ChatAudioRequest(
            system=self._system(),
            text=self._user_text(),
            audio=self.audio,
            voice=self.voices.native_voice(voice, attempt.route.provider) if self.speaks else None,
            max_output_tokens=output_cap(self.row),
        )

    async def run(self, attempt: PlannedAttempt[ChatAudioProvider]) -> Outcome:
        result = await attempt.provider.chat(self.chat_request(attempt), attempt.upstream)
        spoken = result.audio.duration_seconds if result.audio else 0.0
        delivered = self._at_speed(attempt, result) if self.speaks else None
        # Usage reports the audio the client hears; the provider's own figure stays on the
        # result, and in the tokens it billed.
        metered = self.metered(
            result.usage, result.text, spoken, delivered.duration_seconds if delivered else None
        )
        return Outcome(await self._data(result, delivered), metered, result)

    async def stream(self, attempt: PlannedAttempt[Any]) -> AsyncIterator["SpokenChunk"]:
        """The answer's speech encoded as its audio deltas arrive. Speech at another speed is
        stretched whole (per delta it would click at every seam), so it comes in one piece."""
        if not self.speaks:
            raise InvalidRequestError(
                f"Task '{self.task}' answers in text; it is not streamed.",
                param="task",
                code="unsupported_task",
            )
        encoder = StreamEncoder(self.response_format)
        speed = self.request.speed or 1.0
        held: list[PcmAudio] = []
        provider = self.providers.chat_stream[attempt.route.provider]
        chunks = provider.stream_chat(self.chat_request(attempt), attempt.upstream)
        async with aclosing(chunks):  # type: ignore[type-var]
            async for piece in chunks:
                words, usage = delta_transcript(piece.event), piece.usage
                if piece.audio is not None and speed != 1.0:
                    held.append(piece.audio)
                    yield SpokenChunk(b"", 0.0, words, usage)
                    continue
                audio = piece.audio or PcmAudio(b"", OUTPUT_SAMPLE_RATE)
                yield SpokenChunk(encoder.feed(audio), audio.duration_seconds, words, usage)
        if held:
            whole = PcmAudio(b"".join(audio.samples for audio in held), held[0].sample_rate)
            stretched = change_tempo(whole, speed)
            yield SpokenChunk(encoder.feed(stretched), stretched.duration_seconds, "", None)
        yield SpokenChunk(encoder.finish(), 0.0, "", None)

    def meter(self) -> "SpokenMeter":
        return SpokenMeter(self)

    def _system(self) -> str | None:
        fixed = {"tts": SPEAK_VERBATIM, "transcription": TRANSCRIBE, "translation": TRANSLATE}
        parts = [fixed.get(self.task), self.request.instructions]
        return "\n\n".join(part for part in parts if part) or None

    def _user_text(self) -> str | None:
        return None if self.audio is not None else self.request.input

    def _at_speed(self, attempt: PlannedAttempt[Any], result: ChatAudioResult) -> PcmAudio:
        if result.audio is None:
            raise UpstreamError(attempt.route.provider, "the answer carries no audio")
        # Chat completions have no speed setting, so the gateway time-stretches the answer.
        return change_tempo(result.audio, self.request.speed or 1.0)

    async def _data(self, result: ChatAudioResult, delivered: PcmAudio | None) -> dict[str, Any]:
        if delivered is None:
            duration = self.audio.duration_seconds if self.audio else 0.0
            return {
                "text": result.text.strip(),
                "language": self.request.language,
                "duration": round(duration, 3),
            }
        audio = await encode_off_loop(delivered, self.response_format)
        data = {
            "content_type": OUTPUT_FORMATS[self.response_format].content_type,
            "audio_base64": base64.b64encode(audio).decode("ascii"),
        }
        return data | ({"transcript": result.text} if self.task == "audio_chat" else {})

    def metered(
        self, usage: ProviderUsage, text: str, spoken: float, delivered: float | None = None
    ) -> Metered:
        """The provider's own counts; what it left out, measured here. `spoken` is the audio
        the provider made, `delivered` what the client got (when the speed changed it)."""
        heard = self.audio.duration_seconds if self.audio else 0.0
        text_in = self.tokens.count(self._system() or "") + self.tokens.count(
            self._user_text() or ""
        )
        return Metered(
            text_input_tokens=reported_or_measured(usage.input_text_tokens, text_in),
            text_output_tokens=reported_or_measured(
                usage.output_text_tokens, self.tokens.count(text)
            ),
            audio_input_tokens=reported_or_measured(
                usage.input_audio_tokens, math.ceil(heard * AUDIO_INPUT_TOKENS_PER_SECOND)
            ),
            audio_output_tokens=reported_or_measured(
                usage.output_audio_tokens, math.ceil(spoken * AUDIO_OUTPUT_TOKENS_PER_SECOND)
            ),
            audio_milliseconds=round((heard + (spoken if delivered is None else delivered)) * 1000),
            characters=len(self.request.input) if self.audio is None else 0,
        )


@dataclass(frozen=True, slots=True)
class SpokenChunk:
    """Encoded speech ready to send and how long it plays, with the words and the provider's
    usage that came with it."""

    data: bytes
    seconds: float
    words: str
    usage: ProviderUsage | None


@dataclass
class SpokenMeter:
    job: ChatJob
    seconds: float = 0.0
    words: list[str] = field(default_factory=list)
    usage: ProviderUsage = field(default_factory=ProviderUsage)

    def add(self, chunk: SpokenChunk) -> None:
        self.seconds += chunk.seconds
        self.words.append(chunk.words)
        if chunk.usage is not None:
            self.usage = chunk.usage

    @property
    def delivered(self) -> Metered:
        return self.job.metered(self.usage, "".join(self.words), self.seconds)


def delta_transcript(event: dict[str, Any]) -> str:
    """The words a streamed chunk adds to the answer's audio transcript."""
    choices = event.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    delta = first.get("delta") if isinstance(first, dict) else None
    audio = delta.get("audio") if isinstance(delta, dict) else None
    words = audio.get("transcript") if isinstance(audio, dict) else None
    return words if isinstance(words, str) else ""


def output_cap(row: ModelRow) -> int:
    """The output bound sent upstream when the client sets none, so the hold is a true bound."""
    return row.default_output_tokens or row.max_output_tokens or 0


def reported_or_measured(reported: int | None, measured: int) -> int:
    return measured if reported is None else reported
