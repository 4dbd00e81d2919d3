"""The client's side of a realtime socket: events read under guard, events sent in its dialect.

A hostile client (bad JSON, binary or oversize frames, a flood) gets `error` events and keeps
its socket; a flood is slowed by reading it no faster than the session's event rate.
"""

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import websockets

from voxgate.errors import GatewayError, InsufficientCreditError, InvalidRequestError
from voxgate.gateway.realtime.dialect import Dialect
from voxgate.gateway.realtime.stages import StageClock
from voxgate.gateway.realtime.work import SessionOver
from voxgate.providers.errors import UpstreamError

# OpenAI accepts events up to 15 MiB; larger frames are refused unparsed (past 16 MiB the
# server closes the socket with 1009 before the session sees them).
MAX_EVENT_BYTES = 15 * 1024 * 1024
EVENTS_PER_SECOND = 400
EVENT_BURST = 800
# What a served session does with one kind of client event.
Handler = Callable[[dict[str, Any]], Awaitable[None]]


class ClientSocket(Protocol):
    async def receive(self) -> Mapping[str, Any]: ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class ClientGone(Exception):
    """The client closed its socket."""


def is_closed(exc: BaseException) -> bool:
    return isinstance(exc, websockets.ConnectionClosed | ClientGone)


def event_id() -> str:
    return f"event_{secrets.token_hex(8)}"


def error_event(
    message: str,
    *,
    code: str,
    kind: str = "invalid_request_error",
    param: str | None = None,
    client_event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {
            "type": kind,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        },
    }


def credit_refusal(
    exc: InsufficientCreditError, client_event_id: str | None = None
) -> dict[str, Any]:
    """The error event for work the session's credit (or a spend limit) cannot hold."""
    return error_event(
        exc.message,
        code=exc.code or "insufficient_credit",
        kind="insufficient_quota",
        client_event_id=client_event_id,
    )


def failure_event(exc: GatewayError | UpstreamError) -> dict[str, Any]:
    """A leg of the session's work failed: said without the provider's own words."""
    if isinstance(exc, GatewayError):
        return error_event(exc.message, code=exc.code or "failed", kind=exc.error_type)
    return error_event(
        f"The {exc.provider} route failed ({exc.status or 'no answer'}); try again.",
        code="upstream_error",
        kind="server_error",
    )


async def dispatch(
    channel: "ClientChannel",
    handlers: Mapping[str, Handler],
    event: dict[str, Any],
    end: Callable[[SessionOver], None],
    *,
    unknown_in: str = "",
) -> None:
    """Hand a client event to its handler. An event the session cannot take, or a piece of
    work that failed, gets an `error` event and the session goes on; a SessionOver is handed to
    `end`. `unknown_in` names the session for an unknown type (" in a transcription session")."""
    kind = event["type"]
    handler = handlers.get(kind)
    client_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    if handler is None:
        await channel.send(
            error_event(
                f"Unknown or unsupported event type '{kind}'{unknown_in}.",
                code="unknown_event",
                param="type",
                client_event_id=client_id,
            )
        )
        return
    try:
        await handler(event)
    except InvalidRequestError as exc:
        await channel.send(
            error_event(
                exc.message,
                code=exc.code or "invalid_value",
                param=exc.param,
                client_event_id=client_id,
            )
        )
    except SessionOver as over:
        end(over)
    except (GatewayError, UpstreamError) as exc:  # a piece failed; the session goes on
        await channel.send(failure_event(exc))


@dataclass
class SessionStats:
    """What a session's socket carried, for its access line and metrics."""

    audio_in_bytes: int = 0
    audio_out_bytes: int = 0
    responses: int = 0
    # The RFC 6455 code the session closed with (the gateway's, or the client's).
    close_code: int | None = None


_AUDIO_OUT = frozenset({"response.output_audio.delta", "response.audio.delta"})


def decoded_size(value: object) -> int:
    """The size of the bytes a base64 string holds (without decoding them)."""
    if not isinstance(value, str) or not value:
        return 0
    return len(value) * 3 // 4 - value[-2:].count("=")


@dataclass
class Throttle:
    """A token bucket: each event takes one; an empty bucket waits for the next."""

    rate: float = EVENTS_PER_SECOND
    burst: float = EVENT_BURST
    tokens: float = EVENT_BURST
    stamp: float = field(default_factory=time.monotonic)

    def wait_seconds(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class ClientChannel:
    """One client's socket: `next_event` yields only well-formed events, `send` stamps and
    renames each server event for the client's dialect."""

    def __init__(
        self, socket: ClientSocket, dialect: Dialect, stages: StageClock | None = None
    ) -> None:
        self._socket = socket
        self.dialect = dialect
        self._throttle = Throttle()
        self._sending = asyncio.Lock()
        self.stats = SessionStats()
        # Timed from the socket's handshake when the caller started the clock there.
        self.stages = stages or StageClock()

    async def next_event(self) -> dict[str, Any]:
        """The next client event that parses to an object with a type; refuses the others."""
        event, _ = await self.next_message()
        return event

    async def next_message(self) -> tuple[dict[str, Any], str]:
        """`next_event` with the text it came as (for a relay that passes it on unchanged)."""
        while True:
            delay = self._throttle.wait_seconds()
            if delay:
                await asyncio.sleep(delay)
            message = await self._socket.receive()
            if message.get("type") == "websocket.disconnect":
                self.stats.close_code = self.stats.close_code or message.get("code", 1005)
                raise ClientGone
            refusal, event = _parse(message)
            if refusal is None and event is not None:
                if event["type"] == "input_audio_buffer.append":
                    self.stats.audio_in_bytes += decoded_size(event.get("audio"))
                self.stages.received(event)
                return event, str(message["text"])
            if refusal is not None:
                await self.send(refusal)

    async def send(self, event: dict[str, Any]) -> None:
        shaped = self.dialect.outgoing(event)
        if shaped is None:
            return
        shaped.setdefault("event_id", event_id())
        self._count(event)
        async with self._sending:
            await self._socket.send_text(orjson.dumps(shaped).decode())

    async def send_raw(self, text: str, event: dict[str, Any] | None = None) -> None:
        """An event as a provider sent it, unchanged (`event`: its parsed form, if it was)."""
        if event is not None:
            self._count(event)
        async with self._sending:
            await self._socket.send_text(text)

    def _count(self, event: dict[str, Any]) -> None:
        self.stages.sent(event)
        kind = event.get("type")
        if kind in _AUDIO_OUT:
            self.stats.audio_out_bytes += decoded_size(event.get("delta"))
        elif kind == "response.done":
            self.stats.responses += 1

    async def close(self, code: int, reason: str) -> None:
        self.stats.close_code = code
        async with self._sending:
            await self._socket.close(code, reason)


def _parse(message: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    text = message.get("text")
    if text is None:
        return error_event(
            "Realtime events are JSON text frames; a binary frame was received.",
            code="invalid_frame",
        ), None
    if len(text) > MAX_EVENT_BYTES:
        return error_event(
            f"A realtime event may be at most {MAX_EVENT_BYTES} bytes.", code="event_too_large"
        ), None
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        return error_event("The event is not valid JSON.", code="invalid_json"), None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return error_event(
            "An event must be a JSON object with a string 'type'.",
            code="invalid_event",
            param="type",
        ), None
    return None, event
