"""Gemini Live (`BidiGenerateContent` over a WebSocket) as the simulator speaks it.

The first message is `setup`; `setupComplete` answers it, then a `sessionResumptionUpdate`
with a handle (after every turn too). Audio comes in `realtimeInput.audio` as 16 kHz PCM16;
a user turn ends when the detector hears speech stop, at `audioStreamEnd`, or at `activityEnd`
when the setup turned automatic activity detection off. Text comes in `realtimeInput.text` or
as `clientContent` turns (answered when `turnComplete`). The answer is `serverContent`:
`inputTranscription`, then `modelTurn` parts with 24 kHz PCM16 `inlineData` in 200 ms chunks
beside their `outputTranscription`, then `generationComplete` and `turnComplete` with the
turn's `usageMetadata`. Speech heard while an answer is still being sent (or an
`activityStart`) stops it: `interrupted`, with the usage of what was made; unless the setup's
`realtimeInputConfig.activityHandling` is `NO_INTERRUPTION`, which lets it go on. A turn whose text
names a declared function gets a `toolCall` instead, and the `toolResponse` is answered in
words. A queued `paced` fault paces the spoken answer, so a test can speak over it. A
`clientContent` message stops an answer under way, as Gemini's does (Live takes no output
limit: a client stops a long answer so). A queued `long` fault makes the session's answers run
long: each says its reply forty times over, past any cap a client counts (at the fault's
pace, when it names one).

A session resumed with a handle (`setup.sessionResumption.handle`) continues the conversation
it names. A queued `go_away` fault sends `goAway` at the first pause between turns once the
session has sent `after_events` messages, then closes the socket once the client has gone
elsewhere (or after `timeLeft`); a queued `drop` closes the socket (1011) instead of sending
its next message after `after_events`.
Each connection is logged (`/_sim/realtime`): its credential, model, the handle it resumed,
its setup and the message kinds it sent and received.
"""

import asyncio
import base64
import contextlib
import math
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.audio.vad import Vad, silero
from voxgate.gateway.realtime.session_config import TurnDetection
from voxgate.simulator.engine import RATE, SimEngine
from voxgate.simulator.faults import Fault
from voxgate.simulator.gemini import camel
from voxgate.simulator.pacing import Pace, paced
from voxgate.simulator.wire import gemini_error, json_response

# Any API version (the SDK asks v1beta by default, v1alpha for ephemeral tokens).
LIVE_PATH = "/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"
INPUT_RATE = 16_000
CHUNK_BYTES = RATE * 2 // 5  # 200 ms of 24 kHz PCM16
# Gemini counts audio at 32 tokens a second, heard and spoken.
AUDIO_TOKENS_IN_PER_SECOND = AUDIO_TOKENS_OUT_PER_SECOND = 32
# How many times a `long` answer says its reply (its audio too, fixed or not: 40 s at least).
LONG_REPEATS = 40
GO_AWAY_SECONDS = 5
INVALID_ARGUMENT, INTERNAL_ERROR, NORMAL = 1007, 1011, 1000
INTERRUPTED = {"serverContent": {"interrupted": True}}
LIVE_FAULTS = frozenset({"go_away", "drop", "long"})

# What each resumption handle continues: the conversation so far, by the simulator's own book.
Handles = MutableMapping[str, list[dict[str, Any]]]


@dataclass
class _Turn:
    """The user's side of the turn being heard, and what it cost to hear."""

    audio: bytearray = field(default_factory=bytearray)
    text: list[str] = field(default_factory=list)
    speaking: bool = False


class LiveSession:
    def __init__(
        self,
        websocket: WebSocket,
        engine: SimEngine,
        handles: Handles,
        fault: Fault | None,
        log: dict[str, Any],
    ) -> None:
        self._socket = websocket
        self._engine = engine
        self._handles = handles
        self._fault = fault if fault is not None and fault.kind in LIVE_FAULTS else None
        self._pace = _pace(fault)
        self._log = log
        # One entry a message: its fields' names (`serverContent+usageMetadata`).
        self._sent: list[str] = log.setdefault("sent", [])
        self._received: list[str] = log.setdefault("received", [])
        self._history: list[dict[str, Any]] = []
        self._turn = _Turn()
        self._vad: Vad | None = None
        self._automatic = True
        self._interruptible = True
        self._tools: list[str] = []
        self._audio_out = True
        self._answering: asyncio.Task[None] | None = None
        # The answer under way so far: its prompt and audio-in tokens, and the bytes spoken.
        self._so_far = (0, 0, 0)
        self._gone = asyncio.Event()
        # Sends and closes that run beside the reader (kept so they are not collected midway).
        self._tasks: set[asyncio.Future[None]] = set()

    async def run(self) -> None:
        setup = await self._setup()
        if setup is None:
            return
        await self._send({"setupComplete": {}})
        await self._resumable()
        try:
            while True:
                message = camel(orjson.loads(await self._socket.receive_text()))
                self._received.extend(message)
                await self._handle(message)
        except WebSocketDisconnect:
            pass
        finally:
            self._gone.set()
            if self._answering is not None:
                self._answering.cancel()

    async def _setup(self) -> dict[str, Any] | None:
        first = camel(orjson.loads(await self._socket.receive_text()))
        setup = first.get("setup")
        if not isinstance(setup, dict) or not setup.get("model"):
            await self._socket.close(INVALID_ARGUMENT, "The first message must be a setup.")
            return None
        handle = (setup.get("sessionResumption") or {}).get("handle")
        if handle is not None and handle not in self._handles:
            await self._socket.close(INVALID_ARGUMENT, "Unknown session resumption handle.")
            return None
        self._history = list(self._handles.get(handle, [])) if handle else []
        self._log.update(model=setup["model"], resumed=handle, setup=setup)
        modalities = (setup.get("generationConfig") or {}).get("responseModalities") or ["AUDIO"]
        self._audio_out = "AUDIO" in [str(m).upper() for m in modalities]
        detection = (setup.get("realtimeInputConfig") or {}).get("automaticActivityDetection")
        self._automatic = not (detection or {}).get("disabled", False)
        handling = (setup.get("realtimeInputConfig") or {}).get("activityHandling")
        self._interruptible = handling != "NO_INTERRUPTION"
        self._tools = [
            str(declaration.get("name"))
            for tool in setup.get("tools") or []
            for declaration in tool.get("functionDeclarations") or []
        ]
        return setup

    async def _handle(self, message: dict[str, Any]) -> None:
        realtime = message.get("realtimeInput")
        if isinstance(realtime, dict):
            await self._realtime_input(realtime)
        content = message.get("clientContent")
        if isinstance(content, dict):
            self._interrupt()
            self._history.extend(content.get("turns") or [])
            if content.get("turnComplete"):
                self._answer(_last_user_text(self._history))
        response = message.get("toolResponse")
        if isinstance(response, dict):
            answers = [r.get("response") for r in response.get("functionResponses") or []]
            self._history.append({"role": "user", "parts": [{"functionResponse": answers}]})
            self._answer(f"The tool said {orjson.dumps(answers).decode()}", tools=False)

    async def _realtime_input(self, realtime: dict[str, Any]) -> None:
        audio = realtime.get("audio")
        for blob in [audio] if isinstance(audio, dict) else realtime.get("mediaChunks") or []:
            await self._heard(base64.b64decode(str(blob.get("data", ""))))
        if "activityStart" in realtime:
            if self._interruptible:
                self._interrupt()
            self._turn = _Turn(speaking=True)
        if "activityEnd" in realtime or "audioStreamEnd" in realtime:
            await self._turn_ended()
        text = realtime.get("text")
        if isinstance(text, str) and text:
            self._interrupt()
            self._history.append({"role": "user", "parts": [{"text": text}]})
            self._answer(text)

    async def _heard(self, pcm: bytes) -> None:
        self._turn.audio.extend(pcm)
        if not self._automatic:
            return
        if self._vad is None:
            self._vad = Vad(TurnDetection(), model=await asyncio.to_thread(silero))
        at_24k = resample(PcmAudio(pcm[: len(pcm) // 2 * 2], INPUT_RATE), RATE).samples
        for edge in await asyncio.to_thread(self._vad.feed, at_24k):
            if edge.kind == "started":
                if self._interruptible:
                    self._interrupt()
                self._turn.speaking = True
            elif self._turn.speaking:
                await self._turn_ended()

    def _interrupt(self) -> None:
        """The user speaks over the answer: it stops, and the client is told."""
        if self._answering is not None and not self._answering.done():
            self._answering.cancel()
            self._answering = None
            prompt, audio_in, spoken_bytes = self._so_far
            spoken = math.ceil(spoken_bytes / 2 / RATE * AUDIO_TOKENS_OUT_PER_SECOND)
            usage = _usage(prompt, audio_in, 0, spoken)  # what was made before it stopped
            self._log.setdefault("usage", []).append(usage)
            self._tasks.add(
                asyncio.ensure_future(self._send(INTERRUPTED | {"usageMetadata": usage}))
            )

    async def _turn_ended(self) -> None:
        turn, self._turn = self._turn, _Turn()
        if not turn.audio:
            return
        audio = resample(PcmAudio(bytes(turn.audio), INPUT_RATE), RATE)
        heard = (await self._engine.hear(audio)).text
        await self._send({"serverContent": {"inputTranscription": {"text": heard}}})
        self._history.append({"role": "user", "parts": [{"text": heard}]})
        self._answer(heard, heard_seconds=audio.duration_seconds)

    def _answer(self, heard: str, *, heard_seconds: float = 0.0, tools: bool = True) -> None:
        self._interrupt()
        self._answering = asyncio.ensure_future(self._answered(heard, heard_seconds, tools))

    async def _answered(self, heard: str, heard_seconds: float, tools: bool) -> None:
        with contextlib.suppress(WebSocketDisconnect):  # a dropped session answers no more
            await self._answer_turn(heard, heard_seconds, tools)

    async def _answer_turn(self, heard: str, heard_seconds: float, tools: bool) -> None:
        called = next((name for name in self._tools if tools and name in heard), None)
        prompt = sum(len(str(part.get("text", "")).split()) for part in _parts(self._history))
        audio_in = math.ceil(heard_seconds * AUDIO_TOKENS_IN_PER_SECOND)
        self._so_far = (prompt, audio_in, 0)
        if called is not None:
            call = {"id": f"call_{secrets.token_hex(4)}", "name": called, "args": {}}
            self._history.append({"role": "model", "parts": [{"functionCall": call}]})
            await self._send({"toolCall": {"functionCalls": [call]}})
            usage = _usage(prompt, audio_in, 0, 0)
            self._log.setdefault("usage", []).append(usage)
            await self._send({"usageMetadata": usage})
            return
        reply = f"The simulator heard: {heard}" if heard else "Hello from the simulator."
        repeats = LONG_REPEATS if self._fault is not None and self._fault.kind == "long" else 1
        said = " ".join([reply] * repeats)
        self._history.append({"role": "model", "parts": [{"text": said}]})
        spoken = 0
        if self._audio_out:
            audio = await self._engine.speak(reply)
            spoken = math.ceil(repeats * audio.duration_seconds * AUDIO_TOKENS_OUT_PER_SECOND)
            await self._speak(audio.samples * repeats, said)
        else:
            await self._send({"serverContent": {"modelTurn": {"parts": [{"text": said}]}}})
        text_out = 0 if self._audio_out else len(said.split())
        await self._send({"serverContent": {"generationComplete": True}})
        usage = _usage(prompt, audio_in, text_out, spoken)
        self._log.setdefault("usage", []).append(usage)
        await self._send({"serverContent": {"turnComplete": True}, "usageMetadata": usage})
        await self._resumable()

    async def _speak(self, samples: bytes, reply: str) -> None:
        """The audio in 200 ms chunks, the transcript's words spread over them."""
        chunks = [samples[i : i + CHUNK_BYTES] for i in range(0, len(samples), CHUNK_BYTES)]
        words = reply.split()
        per_chunk = max(1, math.ceil(len(words) / max(1, len(chunks))))
        index = 0
        async for chunk in paced(iter(chunks), self._pace):
            content: dict[str, Any] = {
                "modelTurn": {
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": f"audio/pcm;rate={RATE}",
                                "data": base64.b64encode(chunk).decode(),
                            }
                        }
                    ]
                }
            }
            said = words[index * per_chunk : (index + 1) * per_chunk]
            if said:
                lead = " " if index else ""
                content["outputTranscription"] = {"text": lead + " ".join(said)}
            index += 1
            await self._send({"serverContent": content})
            prompt, audio_in, spoken_bytes = self._so_far
            self._so_far = (prompt, audio_in, spoken_bytes + len(chunk))

    async def _resumable(self) -> None:
        """A fresh handle for the conversation as it stands."""
        handle = f"handle_{secrets.token_hex(8)}"
        self._handles[handle] = list(self._history)
        self._log.setdefault("handles", []).append(handle)
        await self._send({"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})
        fault = self._fault
        if fault is not None and fault.kind == "go_away" and len(self._sent) >= fault.after_events:
            self._fault = None
            await self._go_away()

    async def _send(self, message: dict[str, Any]) -> None:
        fault = self._fault
        if fault is not None and fault.kind == "drop" and len(self._sent) >= fault.after_events:
            await self._socket.close(INTERNAL_ERROR, "simulated drop")
            raise WebSocketDisconnect(INTERNAL_ERROR)
        self._sent.append("+".join(message))
        await self._socket.send_text(orjson.dumps(message).decode())

    async def _go_away(self) -> None:
        """Tell the client this connection ends soon; end it once the client has gone (a
        client that resumes elsewhere closes this one) or the time is up."""
        self._sent.append("goAway")
        await self._socket.send_text(
            orjson.dumps({"goAway": {"timeLeft": f"{GO_AWAY_SECONDS}s"}}).decode()
        )

        async def close_when_due() -> None:
            try:
                async with asyncio.timeout(GO_AWAY_SECONDS):
                    await self._gone.wait()
            except TimeoutError:
                await self._socket.close(NORMAL, "session time is up")

        self._tasks.add(asyncio.ensure_future(close_when_due()))


def _pace(fault: Fault | None) -> Pace | None:
    """A queued `paced` fault paces the spoken answer, so a test can speak over it (a `long`
    one too, when it names a pace)."""
    if fault is None or fault.kind not in ("paced", "long"):
        return None
    return Pace(fault.first_chunk_ms, fault.chunk_interval_ms)


def _parts(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [part for turn in history for part in turn.get("parts") or [] if isinstance(part, dict)]


def _last_user_text(history: list[dict[str, Any]]) -> str:
    for turn in reversed(history):
        if turn.get("role", "user") == "user":
            return " ".join(str(p.get("text", "")) for p in turn.get("parts") or [] if "text" in p)
    return ""


def _usage(text_in: int, audio_in: int, text_out: int, audio_out: int) -> dict[str, Any]:
    prompt = [{"modality": "TEXT", "tokenCount": text_in}]
    if audio_in:
        prompt.append({"modality": "AUDIO", "tokenCount": audio_in})
    response = [{"modality": "AUDIO" if audio_out else "TEXT", "tokenCount": audio_out or text_out}]
    return {
        "promptTokenCount": text_in + audio_in,
        "responseTokenCount": text_out + audio_out,
        "totalTokenCount": text_in + audio_in + text_out + audio_out,
        "promptTokensDetails": prompt,
        "responseTokensDetails": response,
    }


async def serve_live(
    websocket: WebSocket,
    engine: SimEngine,
    handles: Handles,
    fault: Fault | None,
    log: dict[str, Any],
) -> None:
    credential = websocket.headers.get("x-goog-api-key") or websocket.query_params.get("key")
    log.update(credential=credential, path=websocket.url.path)
    if not credential:
        refusal = gemini_error(401, "API key not valid. Please pass a valid API key.")
        await websocket.send_denial_response(json_response(refusal, 401))
        return
    if fault is not None and fault.status is not None:
        refusal = gemini_error(fault.status, f"Simulated fault {fault.status}.")
        await websocket.send_denial_response(json_response(refusal, fault.status))
        return
    await websocket.accept()
    await LiveSession(websocket, engine, handles, fault, log).run()
