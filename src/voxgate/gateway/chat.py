"""Every task on an audio chat model, through chat completions with audio.

tts speaks the input verbatim; transcription and translation send the audio as an input_audio
part with a fixed prompt; audio_chat answers in speech with its transcript.
"""

import base64
import math
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import astuple, dataclass, field, replace
from functools import cached_property
from typing import Any

from voxgate.audio.encode import encode_off_loop
from voxgate.audio.formats import OUTPUT_FORMATS, OUTPUT_SAMPLE_RATE
from voxgate.audio.pcm import PcmAudio
from voxgate.audio.stream import StreamEncoder
from voxgate.audio.tempo import change_tempo
from voxgate.billing.metering import TokenCounter
from voxgate.billing.pricing import Metered, within_cap
from voxgate.catalog.schema import ModelRow, VoiceTable
from voxgate.errors import InvalidRequestError
from voxgate.gateway.jobs import Outcome
from voxgate.gateway.spoken import (
    SEAM_SECONDS,
    SLOWEST_SECONDS_PER_LETTER,
    faded,
    joined,
    pieces,
    spoken_length,
)
from voxgate.gateway.validation import UnifiedRequest
from voxgate.providers.errors import UpstreamError
from voxgate.providers.protocols import (
    ChatAudioProvider,
    ChatAudioRequest,
    ChatAudioResult,
    ProviderUsage,
    StreamingChatProvider,
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
# The most audio tokens a letter read aloud can take: slow speech, at 20 tokens a second. The
# provider speaks at its own pace (speed is applied here afterwards), so speed does not change it.
AUDIO_TOKENS_PER_SPOKEN_LETTER = SLOWEST_SECONDS_PER_LETTER * AUDIO_OUTPUT_TOKENS_PER_SECOND
# The most answers one text is spoken in: 8 x 16,384 tokens is well past the 32,000
# characters an input may have, read at an ordinary pace.
MAX_SPEECH_TURNS = 8
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

    @cached_property
    def turns(self) -> tuple["Turn", ...]:
        """The upstream requests this job makes, each with the output cap it is sent with: one,
        or for text too long to speak in one answer, one per piece of it."""
        limit = self.request.max_output_tokens or self.row.max_output_tokens or output_cap(self.row)
        if self.task != "tts":
            return (
                Turn(self._user_text(), self.request.max_output_tokens or output_cap(self.row)),
            )
        said = pieces(self.request.input, lambda text: self._to_say(text) <= limit)
        if len(said) > MAX_SPEECH_TURNS:
            # Each piece is an upstream request made one after the other, within one deadline.
            raise InvalidRequestError(
                f"Field 'input' would take {len(said)} answers of at most {limit} output tokens "
                f"to speak; this gateway speaks at most {MAX_SPEECH_TURNS}. Send shorter text"
                + (" or a larger max_output_tokens." if self.request.max_output_tokens else "."),
                param="input",
                code="speech_too_long",
            )
        return tuple(Turn(text, min(limit, self._to_say(text))) for text in said)

    def worst_case(self) -> list[Metered]:
        audio_seconds = self.audio.duration_seconds if self.audio else 0.0
        out = sum(turn.cap for turn in self.turns)
        base = Metered(
            input_text_tokens=sum(self._text_in(turn) for turn in self.turns),
            input_audio_tokens=math.ceil(
                audio_seconds * AUDIO_INPUT_TOKENS_PER_SECOND * HOLD_MARGIN
            ),
        )
        # A spoken answer's tokens may all be audio; one in text is text at most.
        answers = [replace(base, output_text_tokens=out)]
        return [*answers, replace(base, output_audio_tokens=out)] if self.speaks else answers

    @property
    def content_type(self) -> str:
        return OUTPUT_FORMATS[self.response_format].content_type

    def chat_request(self, attempt: PlannedAttempt[Any], turn: "Turn") -> ChatAudioRequest:
        voice = self.request.voice or self.row.default_voice or "alloy"
        return ChatAudioRequest(
            system=self._system(),
            text=turn.text,
            audio=self.audio,
            voice=self.voices.native_voice(voice, attempt.route.provider) if self.speaks else None,
            max_output_tokens=turn.cap,
        )

    async def run(self, attempt: PlannedAttempt[ChatAudioProvider]) -> Outcome:
        results = [
            await attempt.provider.chat(self.chat_request(attempt, turn), attempt.upstream)
            for turn in self.turns
        ]
        result = _whole(attempt, results) if len(results) > 1 else results[0]
        spoken = result.audio.duration_seconds if result.audio else 0.0
        delivered = self._at_speed(attempt, result) if self.speaks else None
        # Usage reports the audio the client hears; the provider's own figure stays on the
        # result, and in the tokens it billed.
        used = [
            self.metered(answer.usage, answer.text, _seconds(answer.audio), turn)
            for answer, turn in zip(results, self.turns, strict=True)
        ]
        # Each turn is charged no more than the cap it was sent: past it is the provider's
        # overrun, which it bills the operator all the same.
        metered = _summed(
            within_cap(turn_used, turn.cap)
            for turn_used, turn in zip(used, self.turns, strict=True)
        )
        provider_used = _summed(used)
        heard = self.audio.duration_seconds if self.audio else 0.0
        heard_ms = round((heard + (delivered.duration_seconds if delivered else spoken)) * 1000)
        outcome = replace(metered, audio_milliseconds=heard_ms)
        return Outcome(
            await self._data(result, delivered),
            outcome,
            result,
            estimated=not all(answer.usage.reported for answer in results),
            overrun=None
            if provider_used == metered
            else replace(provider_used, audio_milliseconds=heard_ms),
        )

    async def stream(
        self, attempt: PlannedAttempt[StreamingChatProvider]
    ) -> AsyncIterator["SpokenChunk"]:
        """The answer's speech encoded as its audio deltas arrive, piece after piece. Speech at
        another speed is stretched whole (per delta it would click at every seam), so it comes
        in one piece."""
        if not self.speaks:
            raise InvalidRequestError(
                f"Task '{self.task}' answers in text; it is not streamed.",
                param="task",
                code="unsupported_task",
            )
        encoder = StreamEncoder(self.response_format)
        speed = self.request.speed or 1.0
        held: dict[int, list[PcmAudio]] = {}
        provider = attempt.provider  # a streamed job is planned where chat streams
        seam = Seam()
        last_turn = len(self.turns) - 1
        for index, turn in enumerate(self.turns):
            chunks = provider.stream_chat(self.chat_request(attempt, turn), attempt.upstream)
            last = index == last_turn
            async with aclosing(chunks):  # type: ignore[type-var]
                async for piece in chunks:
                    words, usage = delta_transcript(piece.event), piece.usage
                    made = _seconds(piece.audio)
                    if piece.audio is not None and speed != 1.0:
                        held.setdefault(index, []).append(piece.audio)
                        yield SpokenChunk(b"", 0.0, words, usage, made, index)
                        continue
                    audio = seam.feed(piece.audio, index) if piece.audio else _silence()
                    if piece.finishes and not last:
                        audio = _concatenated(audio, seam.close())
                    data = encoder.feed(audio)
                    yield SpokenChunk(data, audio.duration_seconds, words, usage, made, index)
        if held:
            whole = joined([_concatenated(*audio) for audio in held.values()])
            stretched = change_tempo(whole, speed)
            yield SpokenChunk(
                encoder.feed(stretched), stretched.duration_seconds, "", None, 0.0, last_turn
            )
        tail = seam.flush()
        yield SpokenChunk(
            encoder.feed(tail) + encoder.finish(), tail.duration_seconds, "", None, 0.0, last_turn
        )

    def meter(self) -> "SpokenMeter":
        return SpokenMeter(self)

    def _system(self) -> str | None:
        fixed = {"tts": SPEAK_VERBATIM, "transcription": TRANSCRIBE, "translation": TRANSLATE}
        parts = [fixed.get(self.task), self.request.instructions]
        return "\n\n".join(part for part in parts if part) or None

    def _user_text(self) -> str | None:
        return None if self.audio is not None else self.request.input

    def _to_say(self, text: str) -> int:
        """The most completion tokens an answer speaking `text` can take: its transcript and
        its audio."""
        return self.tokens.count(text) + math.ceil(
            spoken_length(text) * AUDIO_TOKENS_PER_SPOKEN_LETTER
        )

    def _text_in(self, turn: "Turn") -> int:
        return self.tokens.count(self._system() or "") + self.tokens.count(turn.text or "")

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
        self, usage: ProviderUsage, text: str, spoken: float, turn: "Turn | None" = None
    ) -> Metered:
        """One turn's counts as the provider gave them; what it left out, measured here.
        `spoken` is the audio the provider made, before any change of speed."""
        turn = turn or self.turns[0]
        heard = self.audio.duration_seconds if self.audio else 0.0
        return Metered(
            input_text_tokens=reported_or_measured(usage.input_text_tokens, self._text_in(turn)),
            output_text_tokens=reported_or_measured(
                usage.output_text_tokens, self.tokens.count(text)
            ),
            input_audio_tokens=reported_or_measured(
                usage.input_audio_tokens, math.ceil(heard * AUDIO_INPUT_TOKENS_PER_SECOND)
            ),
            output_audio_tokens=reported_or_measured(
                usage.output_audio_tokens, math.ceil(spoken * AUDIO_OUTPUT_TOKENS_PER_SECOND)
            ),
            audio_milliseconds=round((heard + spoken) * 1000),
            input_characters=len(turn.text or "") if self.audio is None else 0,
        )


@dataclass(frozen=True, slots=True)
class Turn:
    """One upstream request of a job: the user's text (None when it sends audio) and the most
    completion tokens it lets the answer take."""

    text: str | None
    cap: int


@dataclass(frozen=True, slots=True)
class SpokenChunk:
    """Encoded speech ready to send and how long it plays, with the words and the provider's
    usage that came with it, the seconds of audio the provider made for it (before any change
    of speed), and which turn it belongs to."""

    data: bytes
    seconds: float
    words: str
    usage: ProviderUsage | None
    made: float = 0.0
    turn: int = 0


@dataclass
class SpokenMeter:
    """What a streamed answer has delivered: the turns the provider has finished, at their
    usage, and the one under way, measured."""

    job: ChatJob
    finished: Metered = field(default_factory=lambda: Metered(requests=0))
    seconds: float = 0.0
    made: float = 0.0
    words: list[str] = field(default_factory=list)
    usage: ProviderUsage | None = None
    turn: int = 0

    def add(self, chunk: SpokenChunk) -> None:
        if chunk.turn != self.turn:
            self._finish_turn()
            self.turn = chunk.turn
        self.seconds += chunk.seconds
        self.made += chunk.made
        self.words.append(chunk.words)
        if chunk.usage is not None:
            self.usage = chunk.usage

    def _finish_turn(self) -> None:
        self.finished = _summed([self.finished, self._current()])
        self.made, self.words, self.usage = 0.0, [], None

    def _current(self) -> Metered:
        turn = self.job.turns[min(self.turn, len(self.job.turns) - 1)]
        usage = self.usage or ProviderUsage()
        return self.job.metered(usage, "".join(self.words), self.made, turn)

    @property
    def delivered(self) -> Metered:
        metered = _summed([self.finished, self._current()])
        heard = self.job.audio.duration_seconds if self.job.audio else 0.0
        return replace(metered, audio_milliseconds=round((heard + self.seconds) * 1000))


class Seam:
    """Streamed speech across turns: the first samples of each turn after the first fade in,
    and the last of each turn but the last, held back until it ends, fade out."""

    def __init__(self) -> None:
        self._tail = b""
        self._rate = OUTPUT_SAMPLE_RATE
        self._started: set[int] = set()

    def feed(self, audio: PcmAudio, turn: int) -> PcmAudio:
        self._rate = audio.sample_rate
        samples = self._tail + audio.samples
        if turn > 0 and turn not in self._started:
            samples = faded(PcmAudio(samples, self._rate), start=True, end=False)
        self._started.add(turn)
        keep = min(len(samples), int(self._rate * SEAM_SECONDS) * 2)
        self._tail = samples[len(samples) - keep :]
        return PcmAudio(samples[: len(samples) - keep], self._rate)

    def close(self) -> PcmAudio:
        """The held-back end of a turn that is over, faded to silence."""
        tail = faded(PcmAudio(self._tail, self._rate), start=False, end=True)
        self._tail = b""
        return PcmAudio(tail, self._rate)

    def flush(self) -> PcmAudio:
        tail, self._tail = self._tail, b""
        return PcmAudio(tail, self._rate)


def _whole(attempt: PlannedAttempt[Any], results: list[ChatAudioResult]) -> ChatAudioResult:
    """The answers to a text's pieces as one answer: their speech joined at faded seams."""
    audio = [result.audio for result in results]
    if any(piece is None for piece in audio):
        raise UpstreamError(attempt.route.provider, "an answer carries no audio")
    return ChatAudioResult(
        " ".join(result.text for result in results),
        joined([piece for piece in audio if piece is not None]),
        results[0].usage,
        results[0].payload,
    )


def _summed(metered: Iterable[Metered]) -> Metered:
    totals = [astuple(item) for item in metered]
    whole = Metered(*(sum(column) for column in zip(*totals, strict=True)))
    return replace(whole, requests=1)


def _seconds(audio: PcmAudio | None) -> float:
    return audio.duration_seconds if audio is not None else 0.0


def _silence() -> PcmAudio:
    return PcmAudio(b"", OUTPUT_SAMPLE_RATE)


def _concatenated(*audio: PcmAudio) -> PcmAudio:
    return PcmAudio(b"".join(piece.samples for piece in audio), audio[0].sample_rate)


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
