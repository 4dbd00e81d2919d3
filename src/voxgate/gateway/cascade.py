"""Audio chat on any text model: hear (speech-to-text), answer (text chat), speak (speech).

Each leg runs on its own catalog model's routes through the gateway's one failover loop (so
its attempts reach the metrics and traces), and a request's legs note their attempts on its
usage record; the cascade row's prices bill the three together.
"""

import base64
import copy
import math
import re
import time
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from voxgate.audio.encode import encode_off_loop
from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.audio.pcm import PcmAudio
from voxgate.billing.pricing import Metered
from voxgate.catalog.schema import ModelRow
from voxgate.errors import InvalidRequestError
from voxgate.gateway.cascade_legs import Legs
from voxgate.gateway.chat import (
    AUDIO_INPUT_TOKENS_PER_SECOND,
    AUDIO_LIFETIME_SECONDS,
    output_cap,
    reported_or_measured,
)
from voxgate.gateway.chat_completion import (
    content_parts,
    conversation_text,
    delta_text,
    taking,
)
from voxgate.gateway.inputs import RECOGNIZER_SAMPLE_RATE, audio_bytes, decoded_input
from voxgate.gateway.jobs import Outcome
from voxgate.gateway.validation import UnifiedRequest
from voxgate.providers.protocols import (
    ChatAudioProvider,
    ChatAudioRequest,
    ChatAudioResult,
    ChatChunk,
    ProviderUsage,
    StreamingChatProvider,
)
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.types import AudioFormat, Task

# Replies are bounded by the row's output cap; a token is at most this many characters.
CHARACTERS_PER_TOKEN_CEILING = 8
# Heard audio is billed by the minute, and its transcript as input tokens: about as many as an
# audio model would count for the same seconds.
HEARD_TOKENS_PER_SECOND = AUDIO_INPUT_TOKENS_PER_SECOND
AUDIO_ID_PREFIX = "audio_vgc_"
UTF8_MAX_BYTES = 4
# A sentence ends at . ! ? or … followed by white space.
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


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
                input_text_tokens=self.legs.tokens.count(
                    (self.request.instructions or "") + question
                )
                + round(heard * 10),
                output_text_tokens=out,
                audio_milliseconds=round(heard * 1000),
                input_characters=out * CHARACTERS_PER_TOKEN_CEILING,
            )
        ]

    async def run(self, attempt: PlannedAttempt[ChatAudioProvider]) -> Outcome:
        question = (
            await self.legs.heard(self.audio) if self.audio is not None else self.request.input
        )
        chat = ChatAudioRequest(
            system=self.request.instructions,
            text=question,
            max_output_tokens=output_cap(self.row),
        )
        answer = await attempt.provider.chat(chat, attempt.upstream)
        voice = self.request.voice or self.row.default_voice or "alloy"
        spoken = await self.legs.spoken(answer.text, voice)
        audio = await encode_off_loop(spoken, self.response_format)
        data = {
            "content_type": OUTPUT_FORMATS[self.response_format].content_type,
            "audio_base64": base64.b64encode(audio).decode("ascii"),
            "transcript": answer.text,
            "input_transcript": question,
        }
        tokens = self.legs.tokens
        metered = Metered(
            input_text_tokens=reported_or_measured(
                answer.usage.input_text_tokens, tokens.count((chat.system or "") + question)
            ),
            output_text_tokens=reported_or_measured(
                answer.usage.output_text_tokens, tokens.count(answer.text)
            ),
            audio_milliseconds=round(self.audio.duration_seconds * 1000) if self.audio else 0,
            input_characters=len(answer.text),
        )
        return Outcome(data, metered, answer)


@dataclass(frozen=True, slots=True)
class Clip:
    """An input_audio part of the conversation: where it is, and its audio."""

    message: int
    part: int
    audio: PcmAudio


@dataclass(frozen=True)
class CascadeChatJob:
    """A chat completion on a cascade: the conversation's audio heard, the text model's answer,
    and (when audio is wanted) that answer spoken a sentence at a time.

    The text model's answer is passed through as it came; the gateway adds `message.audio`,
    whose id carries the transcript so that a later turn referencing it can be read back to a
    text model that has never heard of audio.
    """

    row: ModelRow
    messages: tuple[dict[str, Any], ...]
    clips: tuple[Clip, ...]
    parameters: Mapping[str, Any]
    voice: str | None
    max_output_tokens: int | None
    legs: Legs
    task: Task = "audio_chat"
    # A streamed answer is planned only over the routes whose provider streams chat.
    streamed: bool = False
    # What each clip says, heard once however many chat routes are tried.
    transcripts: dict[int, str] = field(default_factory=dict, compare=False)

    @property
    def content_type(self) -> str:
        return "text/event-stream"

    @property
    def output_tokens(self) -> int:
        return self.max_output_tokens or output_cap(self.row)

    def plan(self, planner: RoutePlanner) -> list[PlannedAttempt[Any]]:
        # Every leg must be servable before any credit is held.
        if self.clips:
            planner.plan(self.legs.hear, self.legs.providers.transcription)
        if self.voice:
            planner.plan(self.legs.speak, self.legs.providers.speech)
        providers = self.legs.providers
        chat = providers.chat_stream if self.streamed else providers.chat
        return taking(self.row, planner.plan(self.row, chat), self.parameters)

    def worst_case(self) -> list[Metered]:
        heard = self._heard_seconds
        out = self.output_tokens
        return [
            Metered(
                input_text_tokens=self.legs.tokens.count(conversation_text(self.read_back))
                + math.ceil(heard * HEARD_TOKENS_PER_SECOND),
                output_text_tokens=out,
                audio_milliseconds=math.ceil(heard * 1000),
                input_characters=out * CHARACTERS_PER_TOKEN_CEILING if self.voice else 0,
            )
        ]

    async def run(self, attempt: PlannedAttempt[ChatAudioProvider]) -> Outcome:
        request, heard = await self._request()
        answer = await attempt.provider.chat(request, attempt.upstream)
        payload = copy.deepcopy(answer.payload)
        spoken = await self.legs.spoken(answer.text, self.voice) if self.voice else None
        if spoken is not None:
            samples = await encode_off_loop(spoken, "pcm16")
            message = payload["choices"][0]["message"]
            message["content"] = None
            message["audio"] = {
                "id": audio_id(answer.text),
                "data": base64.b64encode(samples).decode(),
                "expires_at": int(time.time()) + AUDIO_LIFETIME_SECONDS,
                "transcript": answer.text,
            }
        result = ChatAudioResult(answer.text, spoken, answer.usage, payload)
        metered = self.metered(answer.usage, answer.text, len(answer.text) if spoken else 0, heard)
        return Outcome({"text": answer.text}, metered, result)

    async def stream(
        self, attempt: PlannedAttempt[StreamingChatProvider]
    ) -> AsyncIterator["CascadeChunk"]:
        """The text model's chunks as they come. With audio wanted, their text is held back
        until a sentence is whole, then sent spoken with its transcript; the audio's id
        follows the last sentence."""
        request, heard = await self._request()
        pending, said = "", []
        provider = attempt.provider  # a streamed job is planned where chat streams
        async for chunk in provider.stream_chat(request, attempt.upstream):
            if not self.voice:
                yield CascadeChunk(chunk.event, None, chunk.usage, heard_seconds=heard)
                heard = 0.0
                continue
            pending += _content(chunk.event)
            finished = chunk.finishes
            sentences, pending = _whole_sentences(pending, flush=finished)
            for sentence in sentences:
                yield await self._spoken_chunk(chunk.event, sentence, heard)
                said.append(sentence)
                heard = 0.0
            if finished and said:
                yield _audio_id_chunk(chunk.event, " ".join(said))
            yield CascadeChunk(_without_content(chunk.event), None, chunk.usage, heard)
            heard = 0.0

    def meter(self) -> "CascadeChatMeter":
        return CascadeChatMeter(self)

    def metered(
        self, usage: ProviderUsage, text: str, spoken_characters: int, heard_seconds: float
    ) -> Metered:
        """The text model's counts where it gave them; the legs' measures beside them."""
        return Metered(
            input_text_tokens=reported_or_measured(
                usage.input_text_tokens,
                self.legs.tokens.count(conversation_text(self.read_back)),
            ),
            output_text_tokens=reported_or_measured(
                usage.output_text_tokens, self.legs.tokens.count(text)
            ),
            audio_milliseconds=round(heard_seconds * 1000),
            input_characters=spoken_characters,
        )

    @property
    def _heard_seconds(self) -> float:
        return sum(clip.audio.duration_seconds for clip in self.clips)

    @cached_property
    def read_back(self) -> tuple[dict[str, Any], ...]:
        """The conversation as the text model reads it: each reference to an earlier spoken
        answer replaced by that answer's text, read no further than an answer can be long."""
        longest = (self.row.max_output_tokens or self.output_tokens) * CHARACTERS_PER_TOKEN_CEILING
        return tuple(
            _read_back(index, message, longest) for index, message in enumerate(self.messages)
        )

    async def _request(self) -> tuple[ChatAudioRequest, float]:
        """The conversation in text, with the seconds of audio heard to make it: clips heard,
        earlier spoken answers read back."""
        messages = [copy.deepcopy(message) for message in self.read_back]
        for index, clip in enumerate(self.clips):
            if index not in self.transcripts:
                self.transcripts[index] = await self.legs.heard(clip.audio)
            text = {"type": "text", "text": self.transcripts[index]}
            messages[clip.message]["content"][clip.part] = text
        request = ChatAudioRequest(
            messages=tuple(messages),
            params=dict(self.parameters),
            max_output_tokens=self.output_tokens,
        )
        return request, self._heard_seconds

    async def _spoken_chunk(
        self, event: dict[str, Any], sentence: str, heard_seconds: float
    ) -> "CascadeChunk":
        assert self.voice is not None
        spoken = await self.legs.spoken(sentence, self.voice)
        samples = await encode_off_loop(spoken, "pcm16")
        audio = {"data": base64.b64encode(samples).decode(), "transcript": sentence}
        return CascadeChunk(_with_delta(event, {"audio": audio}), spoken, None, heard_seconds)


@dataclass(frozen=True, slots=True)
class CascadeChunk(ChatChunk):
    """A chunk of a cascade's answer; the first also carries the seconds of audio heard."""

    heard_seconds: float = 0.0


@dataclass
class CascadeChatMeter:
    """What a streamed cascade answer has delivered: text, characters spoken, seconds heard."""

    job: CascadeChatJob
    text: list[str] = field(default_factory=list)
    characters: int = 0
    heard_seconds: float = 0.0
    usage: ProviderUsage = field(default_factory=ProviderUsage)

    def add(self, chunk: CascadeChunk) -> None:
        words = delta_text(chunk.event)
        self.text.append(words)
        self.heard_seconds += chunk.heard_seconds
        if chunk.audio is not None:
            self.characters += len(words)
        if chunk.usage is not None:
            self.usage = chunk.usage

    @property
    def delivered(self) -> Metered:
        text = "".join(self.text)
        return self.job.metered(self.usage, text, self.characters, self.heard_seconds)


def audio_id(transcript: str) -> str:
    """An audio id that is its transcript, compressed: a later turn reads it back."""
    packed = base64.urlsafe_b64encode(zlib.compress(transcript.encode())).decode()
    return AUDIO_ID_PREFIX + packed.rstrip("=")


async def decoded_clips(
    messages: list[dict[str, Any]], max_audio_seconds: float
) -> tuple[Clip, ...]:
    """The conversation's input_audio parts decoded for the speech recognizer, each refused by
    name if it is not audio this gateway can decode (a URL included)."""
    clips = []
    for m, message in enumerate(messages):
        for p, part in enumerate(content_parts(message)):
            if part.get("type") != "input_audio":
                continue
            param = _clip_param(m, p)
            data = audio_bytes(part["input_audio"]["data"], param=param)
            audio = await decoded_input(
                data,
                sample_rate=RECOGNIZER_SAMPLE_RATE,
                max_seconds=max_audio_seconds,
                param=param,
            )
            clips.append(Clip(m, p, audio))
    return tuple(clips)


def has_audio(messages: list[dict[str, Any]]) -> bool:
    return any(
        part.get("type") == "input_audio" for message in messages for part in content_parts(message)
    )


def _clip_param(message: int, part: int) -> str:
    return f"messages[{message}].content[{part}].input_audio.data"


def _read_back(index: int, message: dict[str, Any], longest: int) -> dict[str, Any]:
    """A copy of `message` a text model can read: a reference to an earlier spoken answer
    becomes that answer's text, of at most `longest` characters (an id that unpacks to more
    was not made by this cascade, and is not unpacked further)."""
    copied = copy.deepcopy(message)
    reference = copied.pop("audio", None)
    if reference is None:
        return copied
    audio = reference.get("id") if isinstance(reference, dict) else None
    if not isinstance(audio, str) or not audio.startswith(AUDIO_ID_PREFIX):
        raise InvalidRequestError(
            f"messages[{index}].audio.id is not an answer of this cascade.",
            param=f"messages[{index}].audio.id",
            code="invalid_value",
        )
    packed = audio.removeprefix(AUDIO_ID_PREFIX)
    unpacker = zlib.decompressobj()
    try:
        compressed = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
        # UTF-8 takes at most 4 bytes a character; one byte more tells an id that is too long.
        text = unpacker.decompress(compressed, longest * UTF8_MAX_BYTES + 1)
        if not unpacker.eof or len(text) > longest * UTF8_MAX_BYTES:
            raise ValueError("longer than any answer")
        copied["content"] = text.decode()
    except (ValueError, zlib.error) as exc:
        raise InvalidRequestError(
            f"messages[{index}].audio.id is not an answer of this cascade.",
            param=f"messages[{index}].audio.id",
            code="invalid_value",
        ) from exc
    return copied


def _whole_sentences(text: str, *, flush: bool) -> tuple[list[str], str]:
    """The whole sentences at the start of `text`, and what is left; everything when the
    answer is finished."""
    pieces = SENTENCE_END.split(text)
    done, rest = pieces[:-1], pieces[-1]
    if flush and rest.strip():
        done, rest = [*done, rest], ""
    return [piece for piece in done if piece.strip()], rest


def _content(event: dict[str, Any]) -> str:
    delta = _delta(event)
    content = delta.get("content") if delta else None
    return content if isinstance(content, str) else ""


def _without_content(event: dict[str, Any]) -> dict[str, Any]:
    """The chunk with its text removed (it is sent spoken), all else kept."""
    delta = _delta(event)
    if not delta or "content" not in delta:
        return event
    choices = [{**event["choices"][0], "delta": {**delta, "content": None}}]
    return event | {"choices": choices + event["choices"][1:]}


def _with_delta(event: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """A chunk like `event` (its id, model and the rest) that carries `delta` alone."""
    choices = [{"index": 0, "delta": delta, "finish_reason": None}]
    return {k: v for k, v in event.items() if k != "usage"} | {"choices": choices}


def _audio_id_chunk(event: dict[str, Any], transcript: str) -> CascadeChunk:
    audio = {"id": audio_id(transcript), "expires_at": int(time.time()) + AUDIO_LIFETIME_SECONDS}
    return CascadeChunk(_with_delta(event, {"audio": audio}), None, None)


def _delta(event: dict[str, Any]) -> dict[str, Any] | None:
    choices = event.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    delta = first.get("delta") if isinstance(first, dict) else None
    return delta if isinstance(delta, dict) else None
