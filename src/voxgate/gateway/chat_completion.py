"""A chat completion on an audio chat model, whole or streamed: the conversation as the client
sent it.

Every parameter the client gave is sent upstream. A parameter that no route of the model takes
is refused up front by name; so is one that only some of its configured routes take, since it
would choose the route (and the upstream price) rather than the model.
"""

import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from voxgate.billing.metering import TokenCounter
from voxgate.billing.pricing import Metered, within_cap
from voxgate.catalog.schema import ModelRow, VoiceTable
from voxgate.errors import InvalidRequestError
from voxgate.gateway.chat import (
    AUDIO_INPUT_TOKENS_PER_SECOND,
    AUDIO_OUTPUT_TOKENS_PER_SECOND,
    HOLD_MARGIN,
    output_cap,
    reported_or_measured,
)
from voxgate.gateway.jobs import Outcome
from voxgate.providers.protocols import (
    ChatAudioProvider,
    ChatAudioRequest,
    ChatChunk,
    ProviderUsage,
    StreamingChatProvider,
)
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.types import Task


@dataclass(frozen=True)
class ChatCompletionJob:
    row: ModelRow
    messages: tuple[dict[str, Any], ...]
    parameters: Mapping[str, Any]
    voice: str | None
    max_output_tokens: int | None
    voices: VoiceTable
    providers: ProviderRegistry
    tokens: TokenCounter
    # The seconds of audio the conversation's input_audio parts hold, decoded to measure them.
    heard_seconds: float = 0.0
    task: Task = "audio_chat"
    # A streamed answer is planned only over the routes whose provider streams chat.
    streamed: bool = False

    def plan(self, planner: RoutePlanner) -> list[PlannedAttempt[Any]]:
        providers = self.providers.chat_stream if self.streamed else self.providers.chat
        return taking(self.row, planner.plan(self.row, providers), self.parameters)

    @property
    def output_tokens(self) -> int:
        """The client's bound on the answer, or the row's default cap, sent upstream so that
        the hold below is a true bound."""
        return self.max_output_tokens or output_cap(self.row)

    def worst_case(self) -> list[Metered]:
        out = self.output_tokens
        # An earlier answer referred to by its audio id is heard again, and was at most the
        # row's whole output of audio.
        referred = audio_references(self.messages) * (self.row.max_output_tokens or out)
        base = Metered(
            input_text_tokens=self.tokens.count(self._text()),
            input_audio_tokens=math.ceil(
                self.heard_seconds * AUDIO_INPUT_TOKENS_PER_SECOND * HOLD_MARGIN
            )
            + referred,
        )
        # Without a voice the answer is text only (`modalities: ["text"]` upstream), held as such.
        answers = [replace(base, output_text_tokens=out)]
        return [*answers, replace(base, output_audio_tokens=out)] if self.voice else answers

    def request(self, attempt: PlannedAttempt[Any]) -> ChatAudioRequest:
        """The upstream request for `attempt`, streamed or not."""
        voice = self.voices.native_voice(self.voice, attempt.route.provider) if self.voice else None
        return ChatAudioRequest(
            messages=self.messages,
            params=dict(self.parameters),
            voice=voice,
            max_output_tokens=self.output_tokens,
        )

    async def run(self, attempt: PlannedAttempt[ChatAudioProvider]) -> Outcome:
        result = await attempt.provider.chat(self.request(attempt), attempt.upstream)
        spoken = result.audio.duration_seconds if result.audio else 0.0
        used = self.metered(result.usage, result.text, spoken)
        metered = within_cap(used, self.output_tokens)
        return Outcome(
            {"text": result.text},
            metered,
            result,
            estimated=not result.usage.reported,
            overrun=used if used != metered else None,
        )

    @property
    def content_type(self) -> str:
        return "text/event-stream"

    def stream(self, attempt: PlannedAttempt[StreamingChatProvider]) -> AsyncIterator[ChatChunk]:
        """The provider's chunks as they come (a streamed job is planned where chat streams)."""
        return attempt.provider.stream_chat(self.request(attempt), attempt.upstream)

    def meter(self) -> "ChatStreamMeter":
        return ChatStreamMeter(self)

    def metered(self, usage: ProviderUsage, text: str, spoken_seconds: float) -> Metered:
        """The provider's own counts; what it left out, measured here."""
        return Metered(
            input_text_tokens=reported_or_measured(
                usage.input_text_tokens, self.tokens.count(self._text())
            ),
            input_audio_tokens=reported_or_measured(
                usage.input_audio_tokens,
                math.ceil(self.heard_seconds * AUDIO_INPUT_TOKENS_PER_SECOND),
            ),
            output_text_tokens=reported_or_measured(
                usage.output_text_tokens, self.tokens.count(text)
            ),
            output_audio_tokens=reported_or_measured(
                usage.output_audio_tokens,
                math.ceil(spoken_seconds * AUDIO_OUTPUT_TOKENS_PER_SECOND),
            ),
            audio_milliseconds=round(spoken_seconds * 1000),
        )

    def _text(self) -> str:
        return conversation_text(self.messages)


@dataclass
class ChatStreamMeter:
    """What a streamed answer has delivered: its text and audio so far, and the provider's
    usage once its last chunk brings it."""

    job: ChatCompletionJob
    text: list[str] = field(default_factory=list)
    seconds: float = 0.0
    usage: ProviderUsage = field(default_factory=ProviderUsage)

    def add(self, chunk: ChatChunk) -> None:
        self.text.append(delta_text(chunk.event))
        if chunk.audio is not None:
            self.seconds += chunk.audio.duration_seconds
        if chunk.usage is not None:
            self.usage = chunk.usage

    @property
    def delivered(self) -> Metered:
        return self.job.metered(self.usage, "".join(self.text), self.seconds)


def check_parameters(row: ModelRow, parameters: Mapping[str, Any]) -> None:
    """Refuse, by name, a parameter that no route of `row` sends upstream."""
    for name in parameters:
        if not any(name in route.chat_parameters for route in row.routes):
            raise _unsupported(row, name, "")


def taking(
    row: ModelRow, attempts: list[PlannedAttempt[Any]], parameters: Mapping[str, Any]
) -> list[PlannedAttempt[Any]]:
    """The attempts, when every one takes every parameter. A parameter none of them takes is
    refused by name; so is one only some take, since sending it would move the request to
    another route than the one the model is priced by (another upstream, at another price)."""
    for name in parameters:
        takers = [a for a in attempts if name in a.route.chat_parameters]
        if not takers:
            raise _unsupported(row, name, "configured ")
        if len(takers) < len(attempts):
            raise InvalidRequestError(
                f"Unsupported parameter: '{name}' is taken by only some routes of model "
                f"'{row.id}'; sending it would choose the route, and the price, that serve the "
                "request. Leave it out, or use a model all of whose routes take it.",
                param=name,
                code="unsupported_parameter",
            )
    return attempts


def _unsupported(row: ModelRow, name: str, which: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Unsupported parameter: '{name}' is not supported by any {which}route of model "
        f"'{row.id}'.",
        param=name,
        code="unsupported_parameter",
    )


def audio_references(messages: tuple[dict[str, Any], ...]) -> int:
    """How many messages refer to an earlier spoken answer by its audio id."""
    return sum(isinstance(message.get("audio"), dict) for message in messages)


def delta_text(event: dict[str, Any]) -> str:
    """The words a chunk adds: its content, or its audio's transcript."""
    choices = event.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    delta = first.get("delta") if isinstance(first, dict) else None
    if not isinstance(delta, dict):
        return ""
    audio = delta.get("audio")
    words = [delta.get("content"), audio.get("transcript") if isinstance(audio, dict) else None]
    return "".join(word for word in words if isinstance(word, str))


def conversation_text(messages: tuple[dict[str, Any], ...]) -> str:
    """The conversation as the text a tokenizer counts, its audio left out."""
    return orjson.dumps([without_audio(m) for m in messages]).decode()


def content_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [p for p in content if isinstance(p, dict)] if isinstance(content, list) else []


def without_audio(message: dict[str, Any]) -> dict[str, Any]:
    return (
        {
            **message,
            "content": [p for p in content_parts(message) if p.get("type") != "input_audio"],
        }
        if content_parts(message)
        else message
    )
