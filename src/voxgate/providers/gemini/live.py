"""A Gemini Live session (`BidiGenerateContent` over a WebSocket) behind the OpenAI realtime
protocol: the relay sends it the client's events and reads OpenAI's events back, as from any
other realtime upstream; `live_events` translates, `live_setup` maps the settings.

Gemini takes its settings once, in the `setup` that opens a connection. A `session.update`
that changes them opens a new connection with the new setup, resuming the conversation with
the latest `sessionResumptionUpdate` handle; the user's input since the last answer was asked
for (audio no handle holds yet) is sent again.
With server VAD the socket runs the gateway's own detector (Silero, off the event loop) over
the client's audio and hands the translation where speech starts and stops: Gemini's own
detection is off, so it answers only the turns the relay asked (and held) for.
When Gemini says the connection ends soon (`goAway`, about every ten minutes), the session
moves the same way, once no answer is under way and a handle holds the last one; the client
sees neither.
"""

import asyncio
import base64
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close
from websockets.protocol import State

from voxgate.audio.vad import SpeechEdge, Vad, silero
from voxgate.providers.errors import UpstreamError
from voxgate.providers.gemini.live_events import LiveTranslation
from voxgate.providers.gemini.live_parts import new_id
from voxgate.providers.gemini.live_setup import LiveSettings
from voxgate.providers.protocols import EventShape

NAME = "gemini"
LIVE_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
# How long Gemini may take to answer a setup.
SETUP_SECONDS = 15.0
INTERNAL_ERROR = 1011
# What is sent again to a resumed connection at most: about 90 s of 16 kHz audio in base64.
MAX_REPLAY_CHARS = 4_000_000

Connect = Callable[[], Awaitable[ClientConnection]]


def live_url(base_url: str) -> str:
    """Gemini Live's WebSocket at `base_url` (https becomes wss)."""
    base = base_url.rstrip("/")
    for plain, secure in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(plain):
            base = secure + base.removeprefix(plain)
    return base + LIVE_PATH


class GeminiLiveSocket:
    def __init__(
        self,
        connect: Connect,
        model: str,
        beta: bool,
        shape: EventShape,
        speech_model: Callable[[], Any] = silero,
    ) -> None:
        self._connect = connect
        # The detector's model (Silero; a test's stand-in), loaded off the event loop.
        self._speech_model = speech_model
        self._detector: Vad | None = None
        self._model = model
        self._beta = beta
        self._shape = shape
        self._settings = LiveSettings()
        self._translation = LiveTranslation()
        self._session_id = new_id("sess")
        self._events: deque[dict[str, Any]] = deque()
        self._ws: ClientConnection | None = None
        self._handle: str | None = None
        self._going_away = False
        # The user's input sent since the last answer was asked for (which no handle holds
        # yet), and whether a handle came since the last answer ended.
        self._unanswered: deque[str] = deque()
        self._unanswered_chars = 0
        self._handle_fresh = False
        # Set when the session could not go on on a new connection.
        self._lost: Close | None = None
        # Held while a message goes to Gemini, and while the connection is replaced.
        self._sending = asyncio.Lock()
        # Set when events for the client come from its own events (a commit the detector made,
        # a session.updated), so a reader waiting on Gemini takes them at once.
        self._fresh = asyncio.Event()

    async def open(self) -> "GeminiLiveSocket":
        await self._listen()
        self._ws = await self._set_up(None)
        self._emit_session("session.created")
        return self

    @property
    def state(self) -> State:
        return self._ws.state if self._ws is not None else State.CLOSED

    @property
    def close_code(self) -> int | None:
        if self._lost is not None:
            return self._lost.code
        return self._ws.close_code if self._ws is not None else None

    async def send(self, message: str) -> None:
        event = orjson.loads(message)
        if not isinstance(event, dict):
            return
        if event.get("type") == "session.update":
            await self._update(event)
            return
        edges = await self._speech_edges(event)
        translation = self._translation
        answering = translation.answering
        upstream = [*translation.client_event(event, edges), *translation.upstream]
        translation.upstream.clear()
        self._events.extend(translation.out)
        translation.out.clear()
        if self._events:
            self._fresh.set()
        async with self._sending:
            for sent in upstream:
                text = orjson.dumps(sent).decode()
                if "realtimeInput" in sent:
                    self._kept(text)
                await self._live().send(text)
            if translation.answering and not answering:  # asked for: what was said is heard
                self._unanswered.clear()
                self._unanswered_chars = 0

    async def recv(self) -> str:
        """The next event for the client; ConnectionClosed when Gemini ends the session."""
        while True:
            self._fresh.clear()
            while self._events:
                shaped = self._shape(self._events.popleft())
                if shaped is not None:
                    return orjson.dumps(shaped).decode()
            ws = self._live()
            try:
                message = await self._message_or_fresh(ws)
            except ConnectionClosed:
                if ws is not self._ws:
                    continue  # replaced meanwhile: read the new connection
                raise
            if message is not None:
                await self._translate(orjson.loads(message))

    async def _message_or_fresh(self, ws: ClientConnection) -> str | bytes | None:
        """Gemini's next message, or None once the client's own events gave the client events
        (a cancelled recv loses nothing: the next one reads the same message)."""
        reading = asyncio.ensure_future(ws.recv())
        woken = asyncio.ensure_future(self._fresh.wait())
        try:
            await asyncio.wait({reading, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            reading.cancel()  # nothing, when it has its message
            await asyncio.wait({reading})  # ended before the next recv begins
        return None if reading.cancelled() else reading.result()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def __aiter__(self) -> AsyncIterator[str]:
        with contextlib.suppress(ConnectionClosed):
            while True:
                yield await self.recv()

    async def _speech_edges(self, event: dict[str, Any]) -> list[SpeechEdge]:
        """Where the detector hears the client's speech start and stop in appended audio (with
        server VAD); a cleared buffer starts it afresh."""
        detector = self._detector
        if detector is None:
            return []
        if event.get("type") == "input_audio_buffer.clear":
            detector.reset()
        if event.get("type") != "input_audio_buffer.append":
            return []
        pcm = base64.b64decode(str(event.get("audio") or ""))
        return await asyncio.to_thread(detector.feed, pcm)

    async def _listen(self) -> None:
        """The detector the settings ask for: none for manual turns; one kept across updates
        (retuned), so its clock runs on."""
        detection = self._settings.detection
        self._translation.input.manual = detection is None
        if detection is None:
            self._detector = None
            return
        self._translation.input.padding_ms = detection.prefix_padding_ms
        if self._detector is None:
            self._detector = Vad(detection, model=await asyncio.to_thread(self._speech_model))
        else:
            self._detector.settings = detection

    def _kept(self, text: str) -> None:
        """Keep the user's input until its answer is asked for: the newest, within the
        bound."""
        self._unanswered.append(text)
        self._unanswered_chars += len(text)
        while self._unanswered_chars > MAX_REPLAY_CHARS and len(self._unanswered) > 1:
            self._unanswered_chars -= len(self._unanswered.popleft())

    def _live(self) -> ClientConnection:
        assert self._ws is not None
        return self._ws

    async def _translate(self, message: dict[str, Any]) -> None:
        """One Gemini message as the client's events. After `goAway` the session moves once
        no answer is under way and a handle has come since the last one ended (the handle
        that holds it)."""
        update = message.get("sessionResumptionUpdate")
        if isinstance(update, dict) and update.get("newHandle") and update.get("resumable", True):
            self._handle = str(update["newHandle"])
            self._handle_fresh = True
        if "goAway" in message:
            self._going_away = True
        self._translation.server_message(message)
        self._events.extend(self._translation.out)
        self._translation.out.clear()
        await self._stop_answer()
        if self._translation.answering:
            self._handle_fresh = False
        elif self._going_away and self._handle_fresh:
            self._going_away = False
            await self._resume()

    async def _stop_answer(self) -> None:
        """Send what the translation asks of Gemini (the interruption of an answer that
        reached its cap)."""
        upstream, self._translation.upstream = self._translation.upstream, []
        if upstream:
            async with self._sending:
                for sent in upstream:
                    await self._live().send(orjson.dumps(sent).decode())

    async def _update(self, event: dict[str, Any]) -> None:
        session = event.get("session")
        settings = self._settings.updated(session if isinstance(session, dict) else {})
        changed = settings.setup(self._model, None) != self._settings.setup(self._model, None)
        self._settings = settings
        await self._listen()
        self._translation.audio_out = settings.audio_out
        if changed:
            await self._resume()
        self._emit_session("session.updated")

    async def _resume(self) -> None:
        """Go on on a new connection with the current settings and the conversation so far.
        One that cannot be opened loses the session as a dropped socket does (1011), so the
        relay moves it to the next route."""
        async with self._sending:
            old = self._ws
            try:
                self._ws = await self._set_up(self._handle)
            except UpstreamError as exc:
                self._lost = Close(INTERNAL_ERROR, f"no resumed Live session: {exc}"[:120])
                if old is not None:
                    await old.close()
                raise ConnectionClosed(self._lost, None) from exc
            if old is not None:
                await old.close()
            # The input not yet answered, which no handle holds, goes again.
            for text in self._unanswered:
                await self._ws.send(text)

    async def _set_up(self, handle: str | None) -> ClientConnection:
        ws = await self._connect()
        try:
            await ws.send(orjson.dumps(self._settings.setup(self._model, handle)).decode())
            async with asyncio.timeout(SETUP_SECONDS):
                while True:
                    answer = orjson.loads(await ws.recv())
                    if "setupComplete" in answer:
                        return ws
        except ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd else "closed"
            raise UpstreamError(NAME, f"refused the Live setup: {reason}") from exc
        except TimeoutError as exc:
            await ws.close()
            raise UpstreamError(NAME, "did not answer the Live setup", retriable=True) from exc

    def _emit_session(self, kind: str) -> None:
        view = self._settings.view(self._session_id, self._model, self._beta)
        self._events.append({"type": kind, "event_id": new_id("event"), "session": view})
        self._fresh.set()
