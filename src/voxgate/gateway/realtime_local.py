"""The realtime protocol served by the gateway itself, for users with no realtime provider:
server VAD on PCM16 24 kHz, Whisper to hear, a text chat route to answer, Piper to speak,
streamed back a sentence at a time; `response.cancel` stops the speech."""

import asyncio
import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.billing.holds import HoldBook
from voxgate.billing.pricing import Metered, cost
from voxgate.billing.usage import Attempt, UsageRecord
from voxgate.catalog.schema import ModelRow
from voxgate.errors import InsufficientCreditError
from voxgate.gateway.cascade import Legs
from voxgate.gateway.realtime import INSUFFICIENT_CREDIT_CLOSE, ClientSocket, is_closed
from voxgate.providers.protocols import ChatAudioRequest, SpeechRequest, TranscriptionRequest
from voxgate.routing.planner import PlannedAttempt
from voxgate.store.keys import Principal
from voxgate.types import MicroUSD

RATE = 24_000
FRAME = RATE // 50  # 20 ms of samples
SPEECH_LEVEL = 500  # RMS of 16-bit samples above which a frame counts as speech
SILENCE_TO_END_MS = 500


@dataclass
class Vad:
    """Energy-based turn detection: speech starts on a loud frame, ends after enough silence."""

    silence_ms: int = SILENCE_TO_END_MS
    speaking: bool = False
    quiet_ms: int = 0

    def feed(self, samples: np.ndarray) -> str | None:
        """'started', 'stopped' or None for one chunk of audio."""
        event = None
        for start in range(0, len(samples), FRAME):
            frame = samples[start : start + FRAME].astype(np.float64)
            loud = frame.size > 0 and float(np.sqrt(np.mean(frame**2))) > SPEECH_LEVEL
            if loud and not self.speaking:
                self.speaking, self.quiet_ms, event = True, 0, "started"
            elif self.speaking:
                self.quiet_ms = 0 if loud else self.quiet_ms + 20
                if self.quiet_ms >= self.silence_ms:
                    self.speaking, event = False, "stopped"
        return event


@dataclass
class Turn:
    heard: str = ""
    metered: Metered = field(default_factory=Metered)


class LocalRealtimeSession:
    def __init__(
        self,
        row: ModelRow,
        legs: Legs,
        chat: PlannedAttempt[Any],
        holds: HoldBook,
        hold_step: MicroUSD,
    ) -> None:
        self._row, self._legs, self._chat, self._holds, self._step = (
            row,
            legs,
            chat,
            holds,
            hold_step,
        )
        self._buffer = bytearray()
        self._vad = Vad()
        self._session: dict[str, Any] = {"voice": row.default_voice, "instructions": ""}
        self._turn = Turn()
        self._total = Metered(requests=0)
        self._held = hold_step
        self._lines: list[Attempt] = []
        self._responding: asyncio.Task[None] | None = None

    async def run(
        self, client: ClientSocket, principal: Principal, request_id: str, session: dict[str, Any]
    ) -> None:
        self._session |= {k: v for k, v in session.items() if k in ("voice", "instructions")}
        hold_id = await self._holds.place(
            workspace_id=principal.workspace_id,
            key_id=principal.key_id,
            request_id=request_id,
            amount=self._step,
            ttl_seconds=3600,
        )
        started = time.perf_counter()
        try:
            await _send(client, {"type": "session.created", "session": self._session})
            while True:
                event = orjson.loads(await client.receive_text())
                if not await self._on(client, event, hold_id):
                    return
        except Exception as exc:
            if not is_closed(exc):
                raise
        finally:
            if self._responding is not None:
                self._responding.cancel()
            await asyncio.shield(self._settle(principal, request_id, hold_id, started))

    async def _on(self, client: ClientSocket, event: dict[str, Any], hold_id: str) -> bool:
        kind = event.get("type")
        if kind == "session.update":
            self._session |= {
                k: v
                for k, v in (event.get("session") or {}).items()
                if k in ("voice", "instructions")
            }
            await _send(client, {"type": "session.updated", "session": self._session})
        elif kind == "input_audio_buffer.append":
            chunk = base64.b64decode(event.get("audio", ""))
            self._buffer += chunk
            heard = self._vad.feed(np.frombuffer(chunk[: len(chunk) // 2 * 2], dtype="<i2"))
            if heard == "started":
                await _send(client, {"type": "input_audio_buffer.speech_started"})
            elif heard == "stopped":
                await _send(client, {"type": "input_audio_buffer.speech_stopped"})
                return await self._commit_and_answer(client, hold_id)
        elif kind == "input_audio_buffer.commit":
            await self._commit(client)
        elif kind == "response.create":
            return await self._answer(client, hold_id)
        elif kind == "response.cancel" and self._responding is not None:
            self._responding.cancel()
        return True

    async def _commit_and_answer(self, client: ClientSocket, hold_id: str) -> bool:
        await self._commit(client)
        return await self._answer(client, hold_id)

    async def _commit(self, client: ClientSocket) -> None:
        audio = PcmAudio(bytes(self._buffer[: len(self._buffer) // 2 * 2]), RATE)
        self._buffer.clear()
        await _send(client, {"type": "input_audio_buffer.committed"})
        if not audio.samples:
            return
        request = TranscriptionRequest(audio=resample(audio, 16_000), language="en")
        [hear, *_] = self._legs.planner.plan(self._legs.hear, self._legs.providers.transcription)
        result = await hear.provider.transcribe(request, hear.upstream)
        self._turn = Turn(
            result.text, Metered(audio_milliseconds=round(audio.duration_seconds * 1000))
        )
        await _send(
            client,
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "transcript": result.text,
            },
        )

    async def _answer(self, client: ClientSocket, hold_id: str) -> bool:
        """Answer in the background, so that the client's events (a cancel) keep being read."""
        if self._responding is not None and not self._responding.done():
            self._responding.cancel()
        self._responding = asyncio.create_task(self._respond_and_bill(client, hold_id))
        return True

    async def _respond_and_bill(self, client: ClientSocket, hold_id: str) -> None:
        await self._respond(client)
        await self._keep_ahead(client, hold_id)

    async def _respond(self, client: ClientSocket) -> None:
        response_id = f"resp_{secrets.token_hex(6)}"
        status, text_out, spoken = "completed", "", 0.0
        await _send(client, {"type": "response.created", "response": {"id": response_id}})
        chat = ChatAudioRequest(
            system=self._session.get("instructions") or None,
            text=self._turn.heard or "Hello.",
            max_output_tokens=self._row.max_output_tokens,
        )
        try:
            answer = await self._chat.provider.chat(chat, self._chat.upstream)
            text_out = answer.text
            await _send(
                client,
                {
                    "type": "response.output_audio_transcript.delta",
                    "response_id": response_id,
                    "delta": text_out,
                },
            )
            voice = self._legs.voices.native_voice(
                str(self._session.get("voice") or "alloy"), "local"
            )
            [speak, *_] = self._legs.planner.plan(
                self._legs.speak, self._legs.providers.speech_stream
            )
            async for pcm in speak.provider.stream_speech(
                SpeechRequest(text=text_out, voice=voice), speak.upstream
            ):
                audio = resample(pcm, RATE)
                spoken += audio.duration_seconds
                await _send(
                    client,
                    {
                        "type": "response.output_audio.delta",
                        "response_id": response_id,
                        "delta": base64.b64encode(audio.samples).decode(),
                    },
                )
            await _send(
                client,
                {
                    "type": "response.output_audio_transcript.done",
                    "response_id": response_id,
                    "transcript": text_out,
                },
            )
        except asyncio.CancelledError:
            status = "cancelled"
        tokens = self._legs.tokens
        metered = Metered(
            text_input_tokens=tokens.count((chat.system or "") + (chat.text or "")),
            text_output_tokens=tokens.count(text_out),
            audio_milliseconds=self._turn.metered.audio_milliseconds,
            characters=len(text_out),
            requests=0,
        )
        self._total = Metered(
            **{n: getattr(self._total, n) + getattr(metered, n) for n in _COUNTED}
        )
        self._turn = Turn()
        self._lines.append(
            Attempt(self._chat.label, "local", "response.done", round(spoken * 1000), response_id)
        )
        usage = {
            "input_tokens": metered.text_input_tokens,
            "output_tokens": metered.text_output_tokens,
            "total_tokens": metered.text_input_tokens + metered.text_output_tokens,
            "input_token_details": {"text_tokens": metered.text_input_tokens, "audio_tokens": 0},
            "output_token_details": {"text_tokens": metered.text_output_tokens, "audio_tokens": 0},
        }
        await _send(
            client,
            {
                "type": "response.done",
                "response": {"id": response_id, "status": status, "usage": usage},
            },
        )

    async def _keep_ahead(self, client: ClientSocket, hold_id: str) -> bool:
        while cost(self._row.pricing, self._total) >= self._held:
            try:
                await self._holds.extend(hold_id, self._step)
            except InsufficientCreditError:
                await _send(
                    client,
                    {
                        "type": "error",
                        "error": {
                            "type": "insufficient_quota",
                            "code": "insufficient_credit",
                            "message": "No credit left for this session.",
                        },
                    },
                )
                await client.close(INSUFFICIENT_CREDIT_CLOSE, "insufficient credit")
                return False
            self._held = MicroUSD(self._held + self._step)
        return True

    async def _settle(
        self, principal: Principal, request_id: str, hold_id: str, started: float
    ) -> None:
        total = self._total
        usage = UsageRecord(
            request_id=request_id,
            workspace_id=principal.workspace_id,
            key_id=principal.key_id,
            model=self._row.id,
            task="realtime",
            status="succeeded",
            http_status=101,
            latency_ms=round((time.perf_counter() - started) * 1000),
            provider="local",
            route=self._chat.label,
            input_text_tokens=total.text_input_tokens,
            output_text_tokens=total.text_output_tokens,
            input_characters=total.characters,
            audio_milliseconds=total.audio_milliseconds,
            attempts=tuple(self._lines),
        )
        await self._holds.settle(hold_id, cost(self._row.pricing, total), usage)


_COUNTED = ("text_input_tokens", "text_output_tokens", "audio_milliseconds", "characters")


async def _send(client: ClientSocket, event: dict[str, Any]) -> None:
    await client.send_text(orjson.dumps(event).decode())
