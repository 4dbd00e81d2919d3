"""WebRTC calls (`POST /v1/realtime/calls`): the gateway answers the caller's SDP offer with
aiortc and terminates the media itself, so a call is one more client of the realtime session
machinery, beside the WebSocket.

The `oai-events` data channel carries the realtime events as JSON, as the WebSocket's text
frames do. The caller's microphone reaches the session as `input_audio_buffer.append` events;
the session's answer audio is played out on the call's audio track instead of being sent as
`response.output_audio.delta` events, and the data channel says when it starts, stops or is
cleared (`output_audio_buffer.started|stopped|cleared`), as OpenAI's WebRTC does.

A call outlives the HTTP request that opened it: `Calls` keeps each one's task, so it can be
hung up by id, and every one at shutdown.
"""

import asyncio
import base64
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)

from voxgate.errors import GatewayError, InvalidRequestError, NotFoundError
from voxgate.gateway.realtime.dialect import Dialect, as_object
from voxgate.gateway.realtime.opening import Accept, End, SessionRequest
from voxgate.gateway.realtime.webrtc_media import PCM_RATE, SpeakerTrack, microphone_chunks
from voxgate.gateway.realtime.wire import ClientChannel, ClientGone, error_event

logger = logging.getLogger(__name__)
EVENTS_CHANNEL = "oai-events"
# How long a call answered with 201 may take to connect before it is dropped (and its hold
# given back).
CONNECT_SECONDS = 30.0
MAX_OFFER_BYTES = 64 * 1024
AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
# The events after which a response sends no more audio.
AUDIO_ENDS = ("response.output_audio.done", "response.audio.done", "response.done")
SESSION_FORMAT = {"type": "audio/pcm", "rate": PCM_RATE}
DISCONNECT: Mapping[str, Any] = {"type": "websocket.disconnect", "code": 1000}
# The gateway's one entry for a session (AudioGateway.open_session).
OpenSession = Callable[[SessionRequest, Accept, End], Awaitable[None]]


class CallSocket:
    """The call's data channel and microphone as the `ClientSocket` a session reads: both feed
    one inbox, in the shapes a WebSocket's messages have."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
        self.events: RTCDataChannel | None = None
        self.opened = asyncio.Event()
        self.ended = asyncio.Event()
        self.peer: RTCPeerConnection | None = None

    def attach(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL or self.events is not None:
            return  # only the first `oai-events` channel carries the session
        self.events = channel
        channel.on("message", self._received)
        channel.on("close", self.hang_up)
        self.opened.set()

    def _received(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self.inbox.put_nowait({"type": "websocket.receive", "text": message})
        else:
            self.inbox.put_nowait({"type": "websocket.receive", "bytes": message})

    def heard(self, pcm: bytes) -> None:
        append = {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
        self.inbox.put_nowait({"type": "websocket.receive", "text": orjson.dumps(append).decode()})

    def hang_up(self) -> None:
        self.ended.set()
        self.inbox.put_nowait(DISCONNECT)

    async def connected(self) -> bool:
        """Whether the caller's data channel opened before it hung up or the connect time ran
        out."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self.opened, self.ended)]
        await asyncio.wait(waits, timeout=CONNECT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()
        return self.opened.is_set() and not self.ended.is_set()

    async def receive(self) -> Mapping[str, Any]:
        message = await self.inbox.get()
        if message is DISCONNECT:
            self.inbox.put_nowait(DISCONNECT)  # every later read sees the call is over too
        return message

    async def send_text(self, data: str) -> None:
        if self.events is None or self.events.readyState != "open":
            raise ClientGone
        self.events.send(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        if self.peer is not None:
            await self.peer.close()


class CallChannel(ClientChannel):
    """A session's client over WebRTC: answer audio goes to the call's track, not the data
    channel; the caller speaking over an answer clears what was not yet heard."""

    def __init__(self, socket: CallSocket, dialect: Dialect, speaker: SpeakerTrack) -> None:
        super().__init__(socket, dialect)
        self._speaker = speaker

    async def next_message(self) -> tuple[dict[str, Any], str]:
        while True:
            event, text = await super().next_message()
            refusal = _format_refusal(event)
            if refusal is not None:
                await self.send(refusal)
            elif event["type"] == "output_audio_buffer.clear":
                self._speaker.clear()  # a WebRTC-only event: the gateway holds the buffer
            else:
                return event, text

    async def send(self, event: dict[str, Any]) -> None:
        if event.get("type") in AUDIO_DELTAS:
            self._played(event)
            return
        self._heed(str(event.get("type")))
        await super().send(event)

    async def send_raw(self, text: str, event: dict[str, Any] | None = None) -> None:
        if event is not None and event.get("type") in AUDIO_DELTAS:
            self._played(event)
            return
        # A relayed event passes unparsed unless the relay reads it: its type is in its text.
        kind = event.get("type") if event is not None else _type_in(text)
        self._heed(str(kind))
        await super().send_raw(text, event)

    def _heed(self, kind: str) -> None:
        """What the speaker must know of an event: the caller spoke over the answer, or the
        answer's audio is complete."""
        if kind == "input_audio_buffer.speech_started":
            self._speaker.clear()
        elif kind in AUDIO_ENDS:
            self._speaker.audio_complete()

    def _played(self, event: dict[str, Any]) -> None:
        self._count(event)
        delta = event.get("delta")
        if isinstance(delta, str):
            self._speaker.play(base64.b64decode(delta), event.get("response_id"))

    async def announce_playback(self) -> None:
        """Say on the data channel when answer audio starts, stops or is cleared."""
        while True:
            kind, response_id = await self._speaker.playback.get()
            await self.send({"type": kind, "response_id": response_id})


def _type_in(text: str) -> str | None:
    """The type of a relayed event, read from its text only when it is one the speaker needs."""
    for kind in ("input_audio_buffer.speech_started", *AUDIO_ENDS):
        if f'"{kind}"' in text:
            return kind
    return None


def _format_refusal(event: dict[str, Any]) -> dict[str, Any] | None:
    """A session.update naming an audio format other than 24 kHz PCM: a call's audio is Opus on
    the wire and PCM16 in the session, so such an update is refused by name."""
    if event.get("type") != "session.update":
        return None
    param = pcm_only(as_object(event.get("session")), "session.")
    if param is None:
        return None
    return error_event(
        "A WebRTC call's audio is Opus on the wire and 24 kHz PCM in the session; "
        "its format cannot be changed.",
        code="invalid_value",
        param=param,
        client_event_id=event.get("event_id"),
    )


def pcm_only(session: dict[str, Any], prefix: str = "") -> str | None:
    """The name of a session's audio format that is not 24 kHz PCM, if it names one."""
    audio = as_object(session.get("audio"))
    for side in ("input", "output"):
        given = as_object(audio.get(side)).get("format")
        if given is not None and SESSION_FORMAT | as_object(given) != SESSION_FORMAT:
            return f"{prefix}audio.{side}.format"
        beta = session.get(f"{side}_audio_format")
        if beta is not None and beta != "pcm16":
            return f"{prefix}{side}_audio_format"
    return None


def with_call_formats(session: dict[str, Any]) -> dict[str, Any]:
    """The session a call serves: its audio formats are 24 kHz PCM (a transcription session
    has input audio only)."""
    audio = as_object(session.get("audio"))
    sides = ("input",) if session.get("type") == "transcription" else ("input", "output")
    shaped = {side: as_object(audio.get(side)) | {"format": dict(SESSION_FORMAT)} for side in sides}
    return {"type": "realtime"} | session | {"audio": audio | shaped}


@dataclass
class Call:
    """One answered call: its peer, its socket, and (once admitted) the task serving it."""

    id: str
    peer: RTCPeerConnection
    socket: CallSocket
    speaker: SpeakerTrack
    answer: str
    workspace_id: str = ""
    task: asyncio.Task[None] | None = None
    listening: list[asyncio.Task[None]] = field(default_factory=list)


async def answer_offer(offer: str) -> Call:
    """Answer the caller's offer: a 400 naming `sdp` for an offer that cannot be answered."""
    if len(offer.encode()) > MAX_OFFER_BYTES:
        raise InvalidRequestError(
            f"An SDP offer may be at most {MAX_OFFER_BYTES} bytes.", param="sdp"
        )
    if "m=application" not in offer:
        raise InvalidRequestError(
            f"The offer has no data channel: a call carries its events on '{EVENTS_CHANNEL}'.",
            param="sdp",
        )
    # No STUN or TURN server: the gateway's own addresses are its candidates.
    peer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    socket, speaker = CallSocket(), SpeakerTrack()
    socket.peer = peer
    call = Call("rtc_" + secrets.token_hex(12), peer, socket, speaker, "")
    peer.on("datachannel", socket.attach)
    peer.on("track", lambda track: _listen(call, track))
    peer.on("connectionstatechange", lambda: _state_changed(call))
    try:
        await peer.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        if any(t.kind == "audio" for t in peer.getTransceivers()):
            peer.addTrack(speaker)
        await peer.setLocalDescription(await peer.createAnswer())
    except (ValueError, KeyError, IndexError) as exc:
        await peer.close()
        raise InvalidRequestError(f"The SDP offer cannot be answered: {exc}", param="sdp") from exc
    call.answer = peer.localDescription.sdp
    return call


def _listen(call: Call, track: MediaStreamTrack) -> None:
    if track.kind == "audio":
        call.listening.append(asyncio.ensure_future(_hear(call.socket, track)))


async def _hear(socket: CallSocket, track: MediaStreamTrack) -> None:
    async for pcm in microphone_chunks(track):
        socket.heard(pcm)


def _state_changed(call: Call) -> None:
    if call.peer.connectionState in ("failed", "closed"):
        call.socket.hang_up()


@dataclass
class Calls:
    """The calls this process serves, by id."""

    live: dict[str, Call] = field(default_factory=dict)

    async def start(
        self, call: Call, open_session: OpenSession, request: SessionRequest, dialect: Dialect
    ) -> None:
        """Open the call's session in the background: a refusal (limits, credit) is raised
        here, with the call hung up; once it is admitted and held, it serves the call until
        the call ends."""
        call.workspace_id = request.principal.workspace_id
        request = replace(request, session=with_call_formats(request.session))
        admitted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        call.task = asyncio.ensure_future(
            self._run(call, open_session, request, _Answering(call, dialect, admitted))
        )
        self.live[call.id] = call
        await admitted

    async def _run(
        self,
        call: Call,
        open_session: OpenSession,
        request: SessionRequest,
        answering: "_Answering",
    ) -> None:
        try:
            await open_session(request, answering.accept, _tell)
        except Exception as exc:
            if not answering.admitted.done():
                answering.admitted.set_exception(exc)
            else:
                logger.exception("WebRTC call %s failed", call.id)
        finally:
            await answering.stop()
            self.live.pop(call.id, None)
            for listening in call.listening:
                listening.cancel()
            await call.peer.close()

    async def hang_up(self, call_id: str, workspace_id: str) -> None:
        call = self.live.get(call_id)
        if call is None or call.workspace_id != workspace_id:
            raise NotFoundError(f"No call '{call_id}' is live.", param="call_id")
        call.socket.hang_up()

    async def hang_up_all(self) -> None:
        calls = list(self.live.values())
        for call in calls:
            call.socket.hang_up()
        await asyncio.gather(*(c.task for c in calls if c.task), return_exceptions=True)


@dataclass
class _Answering:
    """A call's side of its session: admitted once the gateway accepts it, its channel once
    the caller's data channel opens, and the playback announcements while it is served."""

    call: Call
    dialect: Dialect
    admitted: asyncio.Future[None]
    announcing: asyncio.Future[None] | None = None

    async def accept(self) -> ClientChannel | None:
        """The call's channel; None for a caller that never connects (dropped, and what the
        session held given back)."""
        self.admitted.set_result(None)
        if not await self.call.socket.connected():
            logger.info("WebRTC call %s never connected", self.call.id)
            return None
        channel = CallChannel(self.call.socket, self.dialect, self.call.speaker)
        self.announcing = asyncio.ensure_future(channel.announce_playback())
        return channel

    async def stop(self) -> None:
        if self.announcing is not None:
            self.announcing.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClientGone):
                await self.announcing


async def _tell(channel: ClientChannel, exc: GatewayError) -> None:
    """The session could not go on: the caller is told why."""
    with contextlib.suppress(ClientGone):
        await channel.send(error_event(exc.message, code=exc.code or "failed", kind=exc.error_type))
