"""The realtime protocol served by the gateway itself, for users with no realtime provider:
Silero server VAD on 24 kHz PCM16, Whisper to hear, a text chat route to answer, Piper to
speak. Each leg runs through the gateway's one failover loop over all its planned routes (the
speech only until its first chunk). Each leg is held once before it runs (the chat's output
capped to what the credit holds), whatever routes it tries: an attempt that failed was not
billed. It is charged from that hold as it is done, with its attempts on its record, whether or
not a response completes: a chat call cut off mid-way is charged its whole held worst case, as
the route bills it either way."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.audio.vad import Vad, silero
from voxgate.billing.pricing import Metered, cost
from voxgate.catalog.schema import ModelRow
from voxgate.gateway.cascade import CHARACTERS_PER_TOKEN_CEILING
from voxgate.gateway.cascade_legs import FailoverLoop, Legs
from voxgate.gateway.realtime.caps import GATEWAY_FIELD, LocalGate, SessionBudget, SessionCaps
from voxgate.gateway.realtime.conversation import Conversation
from voxgate.gateway.realtime.dialect import GA
from voxgate.gateway.realtime.responses import new_id
from voxgate.gateway.realtime.session_config import RATE, SessionConfig
from voxgate.gateway.realtime.wire import ClientChannel
from voxgate.gateway.realtime.work import Heard
from voxgate.gateway.session_charge import SessionCharge
from voxgate.gateway.streaming import Opened, opener
from voxgate.providers.protocols import (
    ChatAudioRequest,
    ChatAudioResult,
    SpeechRequest,
    TranscriptionRequest,
    TranscriptionResult,
)
from voxgate.routing.failover import Success
from voxgate.routing.planner import PlannedAttempt
from voxgate.types import MicroUSD

ResultT = TypeVar("ResultT")

HEARING_RATE = 16_000
# Past this many characters a text is bounded by its UTF-8 size (never fewer bytes than
# tokens) instead of being tokenized on the event loop.
COUNTED_CHARACTERS = 100_000


@dataclass
class LocalWork:
    row: ModelRow
    legs: Legs
    # The session's planned chat routes, tried in order.
    chat: list[PlannedAttempt[Any]]
    charge: SessionCharge
    failover: FailoverLoop
    tokens_in: int = 0
    tokens_out: int = 0
    # The next answer's output cap, when the session's budget lowered it.
    output_cap: int | None = None

    async def hear(self, pcm: bytes) -> Heard:
        audio = PcmAudio(pcm[: len(pcm) // 2 * 2], RATE)
        if not audio.samples:
            return Heard("", 0.0)
        hear = self.legs.hear
        attempts = self.legs.planner.plan(hear, self.legs.providers.transcription)
        request = TranscriptionRequest(
            audio=resample(audio, HEARING_RATE), language="en", spoken_turn=True
        )

        async def transcribe(attempt: PlannedAttempt[Any]) -> TranscriptionResult:
            result: TranscriptionResult = await attempt.provider.transcribe(
                request, attempt.upstream
            )
            return result

        metered = Metered(audio_milliseconds=round(audio.duration_seconds * 1000), requests=0)
        result = await self._held(
            metered, "transcription", lambda: self.failover(hear.id, attempts, transcribe)
        )
        return Heard(result.text, audio.duration_seconds)

    async def answer(self, messages: list[dict[str, Any]], instructions: str) -> str:
        system = [{"role": "system", "content": instructions}] if instructions else []
        given = tuple(system + messages)
        self.tokens_in = sum(self._tokens(str(m.get("content") or "")) for m in given)
        held_input = Metered(input_text_tokens=self.tokens_in, requests=0)
        wanted, self.output_cap = self.output_cap or self.row.max_output_tokens or 1, None
        cap, worst = await self.charge.reserve_response(held_input, wanted)
        request = ChatAudioRequest(messages=given, max_output_tokens=cap)

        async def chat(attempt: PlannedAttempt[Any]) -> ChatAudioResult:
            result: ChatAudioResult = await attempt.provider.chat(request, attempt.upstream)
            return result

        try:
            served = await self.failover(self.row.id, self.chat, chat)
        except asyncio.CancelledError:
            # Cut off mid-call: the route served (and bills) it, so the worst case held is due.
            await asyncio.shield(self._charge_worst(held_input, cap, worst))
            raise
        except BaseException:
            await asyncio.shield(self.charge.unreserve(worst))
            raise
        answer = served.result
        self.tokens_out = min(cap, self._tokens(answer.text))
        metered = replace(held_input, output_text_tokens=self.tokens_out)
        await self.charge.draw(metered, "chat", reserved=worst, attempts=served.log)
        return str(answer.text)

    async def speak(self, text: str, voice: str, speed: float) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        speak = self.legs.speak
        attempts = self.legs.planner.plan(speak, self.legs.providers.speech_stream)

        def stream(attempt: PlannedAttempt[Any]) -> AsyncIterator[PcmAudio]:
            native = self.legs.voices.native_voice(voice, attempt.route.provider)
            request = SpeechRequest(text=text, voice=native, speed=speed)
            chunks: AsyncIterator[PcmAudio] = attempt.provider.stream_speech(
                request, attempt.upstream
            )
            return chunks

        # The speech is ordered whole: its characters are charged once a route has begun it,
        # before its first piece is handed on; it fails over only until then.
        metered = Metered(input_characters=len(text), requests=0)
        opened: Opened[PcmAudio] = await self._held(
            metered, "speech", lambda: self.failover(speak.id, attempts, opener(stream))
        )
        async with aclosing(opened.rest):  # type: ignore[type-var]
            yield resample(opened.first, RATE).samples
            async for pcm in opened.rest:
                yield resample(pcm, RATE).samples

    async def _held(
        self, metered: Metered, what: str, run: Callable[[], Awaitable[Success[ResultT]]]
    ) -> ResultT:
        """Hold a leg's exact cost before its attempts run; charge it (with their log) when it
        ran or was cut off, release it when every attempt failed."""
        worst = cost(self.row.pricing, metered)
        await self.charge.reserve(worst)
        try:
            served = await run()
        except asyncio.CancelledError:
            await asyncio.shield(self.charge.draw(metered, what, reserved=worst, status="partial"))
            raise
        except BaseException:
            await asyncio.shield(self.charge.unreserve(worst))
            raise
        await self.charge.draw(metered, what, reserved=worst, attempts=served.log)
        return served.result

    async def _charge_worst(self, held_input: Metered, cap: int, worst: MicroUSD) -> None:
        metered = replace(held_input, output_text_tokens=cap)
        await self.charge.draw(metered, "chat", reserved=worst, status="partial")

    def _tokens(self, text: str) -> int:
        """The text's tokens, or a bound on them for a text too long to count here."""
        if len(text) > COUNTED_CHARACTERS:
            return len(text.encode())
        return self.legs.tokens.count(text)

    def gate(self, caps: SessionCaps) -> LocalGate:
        """The session's caps, as its responses are priced and counted here."""
        return LocalGate(
            SessionBudget(caps, self.charge),
            self.row.pricing,
            self._tokens,
            self.row.max_output_tokens or 1,
            CHARACTERS_PER_TOKEN_CEILING,
            cap_next=self._cap_next,
        )

    def _cap_next(self, tokens: int) -> None:
        self.output_cap = tokens

    def usage(self, response_id: str) -> dict[str, Any]:
        tokens_in, tokens_out = self.tokens_in, self.tokens_out
        self.tokens_in = self.tokens_out = 0
        return {
            "total_tokens": tokens_in + tokens_out,
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "input_token_details": {
                "text_tokens": tokens_in,
                "audio_tokens": 0,
                "cached_tokens": 0,
            },
            "output_token_details": {"text_tokens": tokens_out, "audio_tokens": 0},
        }


async def serve_locally(
    channel: ClientChannel,
    work: LocalWork,
    row: ModelRow,
    session: dict[str, Any],
    *,
    max_buffer_seconds: float,
    caps: SessionCaps | None = None,
) -> None:
    """The session's conversation, starting from the settings it was minted with."""
    await asyncio.to_thread(silero)  # the detector's first load stays off the event loop
    gate = work.gate(caps or SessionCaps())
    gate.session_update(session)  # caps it was minted with
    conversation = Conversation(
        channel,
        work,
        initial_config(row, session),
        row.voices,
        max_buffer_seconds=max_buffer_seconds,
        vad_factory=silero_vad,
        gate=gate,
    )
    await conversation.run()


def initial_config(row: ModelRow, session: dict[str, Any]) -> SessionConfig:
    """A new session's settings: the row's defaults under what it was minted with (an
    InvalidRequestError names a field the session cannot take)."""
    config = SessionConfig(id=new_id("sess"), model=row.id, voice=row.default_voice or "alloy")
    settings = {name: value for name, value in session.items() if name != GATEWAY_FIELD}
    return config.updated(settings, GA, row.voices) if settings else config


def silero_vad(config: SessionConfig) -> Vad | None:
    return Vad(config.turn_detection) if config.turn_detection else None
