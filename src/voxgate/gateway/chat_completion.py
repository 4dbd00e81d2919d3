"""A whole chat completion on an audio chat model: the conversation as the client sent it."""

import math
from dataclasses import dataclass, replace
from typing import Any

import orjson

from voxgate.billing.metering import TokenCounter
from voxgate.billing.pricing import Metered
from voxgate.catalog.schema import ModelRow, VoiceTable
from voxgate.gateway.chat import (
    AUDIO_INPUT_TOKENS_PER_SECOND,
    AUDIO_OUTPUT_TOKENS_PER_SECOND,
    HOLD_MARGIN,
    reported_or_measured,
)
from voxgate.gateway.jobs import Outcome
from voxgate.providers.protocols import ChatAudioProvider, ChatAudioRequest
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.types import Task

# The most compressed audio a client may send (16 kbit/s), so the hold covers any input.
MIN_AUDIO_BYTES_PER_SECOND = 2_000


@dataclass(frozen=True)
class ChatCompletionJob:
    row: ModelRow
    messages: tuple[dict[str, Any], ...]
    parameters: dict[str, Any]
    voice: str | None
    max_output_tokens: int | None
    voices: VoiceTable
    providers: ProviderRegistry
    tokens: TokenCounter
    task: Task = "audio_chat"

    def plan(self, planner: RoutePlanner) -> list[PlannedAttempt[Any]]:
        return list(planner.plan(self.row, self.providers.chat))

    def worst_case(self) -> list[Metered]:
        out = self.max_output_tokens or self.row.max_output_tokens or 0
        base = Metered(
            text_input_tokens=self.tokens.count(self._text()),
            audio_input_tokens=math.ceil(
                self._audio_bytes()
                / MIN_AUDIO_BYTES_PER_SECOND
                * AUDIO_INPUT_TOKENS_PER_SECOND
                * HOLD_MARGIN
            ),
        )
        return [replace(base, text_output_tokens=out), replace(base, audio_output_tokens=out)]

    async def run(self, attempt: PlannedAttempt[ChatAudioProvider]) -> Outcome:
        passed_on = {
            name: value
            for name, value in self.parameters.items()
            if name in attempt.route.chat_parameters
        }
        voice = self.voices.native_voice(self.voice, attempt.route.provider) if self.voice else None
        chat = ChatAudioRequest(
            messages=self.messages,
            params=passed_on,
            voice=voice,
            max_output_tokens=self.max_output_tokens,
        )
        result = await attempt.provider.chat(chat, attempt.upstream)
        usage = result.usage
        spoken = result.audio.duration_seconds if result.audio else 0.0
        metered = Metered(
            text_input_tokens=reported_or_measured(
                usage.input_text_tokens, self.tokens.count(self._text())
            ),
            audio_input_tokens=reported_or_measured(usage.input_audio_tokens, 0),
            text_output_tokens=reported_or_measured(
                usage.output_text_tokens, self.tokens.count(result.text)
            ),
            audio_output_tokens=reported_or_measured(
                usage.output_audio_tokens, math.ceil(spoken * AUDIO_OUTPUT_TOKENS_PER_SECOND)
            ),
            audio_milliseconds=round(spoken * 1000),
        )
        return Outcome({"text": result.text}, metered, result)

    def _text(self) -> str:
        return orjson.dumps([_without_audio(m) for m in self.messages]).decode()

    def _audio_bytes(self) -> int:
        return sum(
            len(str(part["input_audio"].get("data", ""))) * 3 // 4
            for message in self.messages
            for part in _parts(message)
            if part.get("type") == "input_audio"
        )


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [p for p in content if isinstance(p, dict)] if isinstance(content, list) else []


def _without_audio(message: dict[str, Any]) -> dict[str, Any]:
    return (
        {**message, "content": [p for p in _parts(message) if p.get("type") != "input_audio"]}
        if _parts(message)
        else message
    )
