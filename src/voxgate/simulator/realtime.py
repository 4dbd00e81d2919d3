"""The realtime WebSocket protocol as the simulator speaks it (OpenAI and Azure paths): both
dialects, server VAD, conversation items and the full response lifecycle, with `response.done`
carrying token usage as OpenAI bills it; and transcription sessions (`intent=transcription`),
served by the gateway's own transcription-session code with the simulator's engine hearing.

The conversation is the gateway's own served-session code (so relay tests meet the same event
set a real provider sends); only the work behind it is simulated. A queued `paced` fault paces
the session's spoken audio, so a test can act while a response is still being produced; a
queued `cut` drops the socket (1011) after a response's first piece of audio, as a provider
that dies mid-response does.

Faults for mid-session failover fire once the session has sent `after_events` events: `drop`
closes the socket (1011), `stall` sends nothing more (the socket stays open), and
`server_error` sends an `error` event of type server_error, then nothing more. Each session
is logged (`/_sim/realtime`): its credential, the event types it sent, and the messages each
answer read (a replayed conversation shows there).
"""

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
from starlette.websockets import WebSocket

from voxgate.api.websocket import StarletteClient
from voxgate.audio.pcm import PcmAudio
from voxgate.audio.vad import Vad, silero
from voxgate.gateway.realtime.conversation import Conversation
from voxgate.gateway.realtime.dialect import dialect_of
from voxgate.gateway.realtime.responses import new_id
from voxgate.gateway.realtime.session_config import SessionConfig
from voxgate.gateway.realtime.transcribing import TranscriptionSession
from voxgate.gateway.realtime.transcription_config import TranscriptionConfig
from voxgate.gateway.realtime.wire import ClientChannel, ClientGone, is_closed
from voxgate.gateway.realtime.work import Heard
from voxgate.simulator.engine import RATE, SimEngine
from voxgate.simulator.faults import Fault
from voxgate.simulator.pacing import Pace, paced
from voxgate.simulator.wire import json_response, openai_error

CHUNK_BYTES = RATE * 2 // 5  # 200 ms of 24 kHz PCM16
TOKENS_PER_SECOND_IN, TOKENS_PER_SECOND_OUT = 10, 20
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
MAX_BUFFER_SECONDS = 1800.0
INTERNAL_ERROR = 1011
FAILOVER_FAULTS = frozenset({"drop", "stall", "server_error"})


@dataclass
class SimWork:
    engine: SimEngine
    pace: Pace | None = None
    # Drops the socket: set for a session with a `cut` fault.
    hang_up: Callable[[], Awaitable[None]] | None = None
    # What each answer read, for the session's log.
    answered: list[dict[str, Any]] = field(default_factory=list)
    heard_seconds: float = 0.0
    text_in: int = 0
    text_out: int = 0
    spoken_seconds: float = 0.0

    async def hear(self, pcm: bytes) -> Heard:
        audio = PcmAudio(pcm[: len(pcm) // 2 * 2], RATE)
        text = (await self.engine.hear(audio)).text if audio.samples else ""
        self.heard_seconds += audio.duration_seconds
        return Heard(text, audio.duration_seconds)

    async def answer(self, messages: list[dict[str, Any]], instructions: str) -> str:
        self.answered.append({"instructions": instructions, "messages": list(messages)})
        heard = next((str(m["content"]) for m in reversed(messages) if m.get("role") == "user"), "")
        reply = f"The simulator heard: {heard}" if heard else "Hello from the simulator."
        self.text_in = len(instructions.split()) + 1
        self.text_out = len(reply.split())
        return reply

    async def speak(self, text: str, voice: str, speed: float) -> AsyncIterator[bytes]:
        audio = await self.engine.speak(text, speed)
        self.spoken_seconds = audio.duration_seconds
        chunks = (
            audio.samples[start : start + CHUNK_BYTES]
            for start in range(0, len(audio.samples), CHUNK_BYTES)
        )
        async for chunk in paced(chunks, self.pace):
            yield chunk
            if self.hang_up is not None:
                await self.hang_up()
                raise ClientGone

    def usage(self, response_id: str) -> dict[str, Any]:
        audio_in = math.ceil(self.heard_seconds * TOKENS_PER_SECOND_IN)
        audio_out = math.ceil(self.spoken_seconds * TOKENS_PER_SECOND_OUT)
        text_in, text_out = self.text_in, self.text_out
        self.heard_seconds = self.spoken_seconds = 0.0
        self.text_in = self.text_out = 0
        return {
            "total_tokens": audio_in + audio_out + text_in + text_out,
            "input_tokens": audio_in + text_in,
            "output_tokens": audio_out + text_out,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": audio_in,
                "cached_tokens": 0,
            },
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
        }


@dataclass
class SimHearing:
    """The simulator's transcription sessions hear with its engine (Whisper when it has one)."""

    engine: SimEngine

    async def hear(self, pcm: bytes, config: TranscriptionConfig, new_bytes: int) -> str:
        audio = PcmAudio(pcm[: len(pcm) // 2 * 2], RATE)
        return (await self.engine.hear(audio)).text if audio.samples else ""


async def _transcribe(channel: ClientChannel, engine: SimEngine, model: str) -> None:
    """A transcription session (`intent=transcription`), as OpenAI serves one."""
    session = TranscriptionSession(
        channel,
        SimHearing(engine),
        TranscriptionConfig(id=new_id("sess"), model=model),
        max_buffer_seconds=MAX_BUFFER_SECONDS,
        vad_factory=lambda c: Vad(c.turn_detection) if c.turn_detection else None,
    )
    await session.created()
    try:
        await session.run()
    except Exception as exc:
        if not is_closed(exc):
            raise


class FaultySocket:
    """The simulator's socket, counting the events it sends; a failover fault fires once
    `after_events` have been sent."""

    def __init__(self, socket: StarletteClient, fault: Fault | None, sent: list[str]) -> None:
        self._socket = socket
        self._fault = fault if fault is not None and fault.kind in FAILOVER_FAULTS else None
        self._sent = sent

    async def receive(self) -> Mapping[str, Any]:
        return await self._socket.receive()

    async def send_text(self, data: str) -> None:
        fault = self._fault
        if fault is not None and len(self._sent) >= fault.after_events:
            await self._fire(fault)
        self._sent.append(str(orjson.loads(data).get("type")))
        await self._socket.send_text(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self._socket.close(code, reason)

    async def _fire(self, fault: Fault) -> None:
        if fault.kind == "drop":
            self._fault = None
            await self._socket.close(INTERNAL_ERROR, "simulated drop")
            raise ClientGone
        if fault.kind == "server_error":
            self._fault = Fault(kind="stall")
            error = {"type": "server_error", "code": None, "message": "Simulated server error."}
            await self._socket.send_text(orjson.dumps({"type": "error", "error": error}).decode())
        await asyncio.Event().wait()  # a stalled provider: nothing more, the socket open


async def serve_realtime(
    websocket: WebSocket,
    engine: SimEngine,
    credential: str | None,
    fault: Fault | None,
    log: dict[str, Any],
) -> None:
    if not credential:
        await websocket.close(1008, "missing credential")
        return
    if fault is not None and fault.status is not None:
        # A provider that is down or limited refuses the handshake with its HTTP status.
        refusal = openai_error(fault.status, f"Simulated fault {fault.status}.")
        await websocket.send_denial_response(json_response(refusal, fault.status))
        return
    pace = None
    if fault is not None and fault.kind == "paced":
        pace = Pace(fault.first_chunk_ms, fault.chunk_interval_ms)
    hang_up = None
    if fault is not None and fault.kind == "cut":
        hang_up = partial(websocket.close, INTERNAL_ERROR, "simulated cut")
    await websocket.accept()
    await asyncio.to_thread(silero)  # the detector's first load stays off the event loop
    sent: list[str] = []
    work = SimWork(engine, pace, hang_up)
    log.update(credential=credential, path=websocket.url.path, sent=sent, answers=work.answered)
    socket = FaultySocket(StarletteClient(websocket), fault, sent)
    channel = ClientChannel(socket, dialect_of(websocket.headers))
    model = websocket.query_params.get("model") or websocket.query_params.get("deployment") or ""
    if websocket.query_params.get("intent") == "transcription":
        await _transcribe(channel, engine, model or "whisper-1")
        return
    config = SessionConfig(id=new_id("sess"), model=model, voice="alloy")
    conversation = Conversation(
        channel,
        work,
        config,
        VOICES,
        max_buffer_seconds=MAX_BUFFER_SECONDS,
        vad_factory=lambda c: Vad(c.turn_detection) if c.turn_detection else None,
    )
    try:
        await conversation.run()
    except Exception as exc:
        if not is_closed(exc):
            raise
