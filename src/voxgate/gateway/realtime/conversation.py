"""A realtime session served here (the local cascade, the simulator): the client's events, the
input buffer and its turns, conversation items, and one response at a time.

Every client event is answered: an unknown or invalid one with an `error` event naming it, after
which the session goes on unchanged.
"""

import asyncio
import base64
import binascii
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from voxgate.audio.vad import Vad
from voxgate.errors import InvalidRequestError
from voxgate.gateway.realtime.items import Items
from voxgate.gateway.realtime.responses import (
    Reply,
    ResponseOptions,
    announce,
    close_cancelled,
    new_id,
    respond,
)
from voxgate.gateway.realtime.session_config import RATE, SessionConfig
from voxgate.gateway.realtime.wire import ClientChannel, Handler, dispatch
from voxgate.gateway.realtime.work import SessionOver, SessionWork

BYTES_PER_SECOND = RATE * 2

DEFAULT_RESPONSE = ResponseOptions()


class ResponseGate(Protocol):
    """The gateway's budget for a session it serves (caps.LocalGate); the simulator has none."""

    def session_update(self, session: object) -> None: ...

    async def admit(
        self,
        channel: ClientChannel,
        texts: Sequence[tuple[str, str]],
        instructions: str,
        spoken: bool,
    ) -> tuple[str, ...]: ...


class Conversation:
    def __init__(
        self,
        channel: ClientChannel,
        work: SessionWork,
        config: SessionConfig,
        voices: Collection[str],
        *,
        max_buffer_seconds: float,
        vad_factory: Callable[[SessionConfig], Vad | None],
        gate: ResponseGate | None = None,
    ) -> None:
        self._channel = channel
        self._work = work
        self._config = config
        self._voices = voices
        self._max_buffer_bytes = int(max_buffer_seconds * BYTES_PER_SECOND)
        self._vad_factory = vad_factory
        self._vad = vad_factory(config)
        self._gate = gate
        self._buffer = bytearray()
        self._buffer_item: str | None = None
        self._items = Items()
        self._last_item: str | None = None
        self._responding: asyncio.Task[None] | None = None
        self._reply: Reply | None = None
        # Set by whichever step finds the session cannot go on (a response runs on its own task).
        self._over: asyncio.Future[SessionOver] = asyncio.get_running_loop().create_future()
        self._handlers: dict[str, Handler] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit_event,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.delete": self._item_delete,
            "conversation.item.retrieve": self._item_retrieve,
            "conversation.item.truncate": self._item_truncate,
            "output_audio_buffer.clear": self._output_clear,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }

    async def run(self) -> None:
        """Serve events until the client leaves (ClientGone) or the session is over."""
        await self._channel.send(
            {"type": "session.created", "session": self._config.view(self._channel.dialect)}
        )
        try:
            while not self._over.done():
                await self._dispatch(await self._next_event())
        finally:
            await self._stop_response()
        raise self._over.result()

    async def _next_event(self) -> dict[str, Any]:
        """The client's next event; SessionOver instead when the session ends meanwhile."""
        receiving = asyncio.ensure_future(self._channel.next_event())
        try:
            either: set[asyncio.Future[Any]] = {receiving, self._over}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not receiving.done():
                receiving.cancel()
                await asyncio.gather(receiving, return_exceptions=True)
        if self._over.done():
            if receiving.done() and not receiving.cancelled():
                receiving.exception()  # the session's end is what is reported, not the socket's
            raise self._over.result()
        return receiving.result()

    async def _dispatch(self, event: dict[str, Any]) -> None:
        await dispatch(self._channel, self._handlers, event, self._end)

    async def _session_update(self, event: dict[str, Any]) -> None:
        if self._gate is not None:
            self._gate.session_update(event.get("session"))
        config = self._config.updated(event.get("session"), self._channel.dialect, self._voices)
        if config.turn_detection != self._config.turn_detection:
            self._vad = self._vad_factory(config)
        self._config = config
        await self._channel.send(
            {"type": "session.updated", "session": config.view(self._channel.dialect)}
        )

    async def _append(self, event: dict[str, Any]) -> None:
        pcm = _audio(event.get("audio"), "audio")
        if len(self._buffer) + len(pcm) > self._max_buffer_bytes:
            raise InvalidRequestError(
                f"The input audio buffer holds at most {self._max_buffer_bytes // BYTES_PER_SECOND}"
                " s; commit or clear it first.",
                param="audio",
                code="input_audio_buffer_full",
            )
        self._buffer += pcm
        self._buffer_item = self._buffer_item or new_id("item")
        if self._vad is None:
            return
        for edge in await asyncio.to_thread(self._vad.feed, pcm):
            if edge.kind == "started":
                await self._speech_started(edge.at_ms)
            else:
                await self._channel.send(
                    {
                        "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": edge.at_ms,
                        "item_id": self._buffer_item,
                    }
                )
                await self._commit()
                detection = self._config.turn_detection
                if detection is not None and detection.create_response:
                    await self._start_response()

    async def _speech_started(self, at_ms: int) -> None:
        """The client speaks: said first, then (with interrupt_response) the answer stops."""
        await self._channel.send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": at_ms,
                "item_id": self._buffer_item,
            }
        )
        detection = self._config.turn_detection
        if detection is not None and detection.interrupt_response:
            await self._stop_response()

    async def _commit_event(self, event: dict[str, Any]) -> None:
        if not self._buffer:
            raise InvalidRequestError(
                "The input audio buffer is empty; append audio before committing.",
                code="input_audio_buffer_commit_empty",
            )
        await self._commit()

    async def _commit(self) -> None:
        pcm, item_id = bytes(self._buffer), self._buffer_item or new_id("item")
        self._buffer.clear()
        self._buffer_item = None
        previous = self._last_item
        await self._channel.send(
            {
                "type": "input_audio_buffer.committed",
                "item_id": item_id,
                "previous_item_id": previous,
            }
        )
        item = _user_item(item_id, {"type": "input_audio", "transcript": None})
        await self._add_item(item, previous)
        heard = await self._work.hear(pcm)
        self._items.heard(item_id, heard.text)
        await self._channel.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": heard.text,
                "usage": {"type": "duration", "seconds": round(heard.seconds, 3)},
            }
        )

    async def _clear(self, event: dict[str, Any]) -> None:
        self._buffer.clear()
        self._buffer_item = None
        if self._vad is not None:
            self._vad.reset()
        await self._channel.send({"type": "input_audio_buffer.cleared"})

    async def _item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            raise InvalidRequestError("item must be a message item.", param="item.type")
        role = item.get("role")
        if role not in ("user", "system", "assistant"):
            raise InvalidRequestError(
                "item.role must be user, system or assistant.", param="item.role"
            )
        content = item.get("content")
        if not isinstance(content, list) or not content:
            raise InvalidRequestError(
                "item.content must be a non-empty list.", param="item.content"
            )
        texts = [await self._content_text(part, index) for index, part in enumerate(content)]
        item_id = str(item.get("id") or new_id("item"))
        previous = self._last_item
        created = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": role,
            "status": "completed",
            "content": content,
        }
        await self._add_item(created, previous, " ".join(texts))

    async def _content_text(self, part: object, index: int) -> str:
        param = f"item.content[{index}]"
        if not isinstance(part, dict):
            raise InvalidRequestError("A content part must be an object.", param=param)
        kind = part.get("type")
        if kind in ("input_text", "text", "output_text"):
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequestError("A text part needs 'text'.", param=f"{param}.text")
            return text
        if kind == "input_audio":
            pcm = _audio(part.get("audio"), f"{param}.audio")
            if len(pcm) > self._max_buffer_bytes:
                raise InvalidRequestError("The audio is too long.", param=f"{param}.audio")
            return (await self._work.hear(pcm)).text
        raise InvalidRequestError(
            "Content parts are input_text, text or input_audio here.", param=f"{param}.type"
        )

    async def _item_delete(self, event: dict[str, Any]) -> None:
        item_id = self._items.delete(event.get("item_id"))
        await self._channel.send({"type": "conversation.item.deleted", "item_id": item_id})

    async def _item_retrieve(self, event: dict[str, Any]) -> None:
        item = self._items.get(event.get("item_id"))
        await self._channel.send({"type": "conversation.item.retrieved", "item": item})

    async def _item_truncate(self, event: dict[str, Any]) -> None:
        """Barge-in: the client heard the answer up to `audio_end_ms`. An answer still being
        spoken stops first, so what is cut is what was sent."""
        if self._reply is not None and self._reply.item_id == event.get("item_id"):
            await self._stop_response()
        end = self._items.truncate(
            event.get("item_id"), event.get("content_index"), event.get("audio_end_ms")
        )
        await self._channel.send(
            {
                "type": "conversation.item.truncated",
                "item_id": event["item_id"],
                "content_index": 0,
                "audio_end_ms": end,
            }
        )

    async def _output_clear(self, event: dict[str, Any]) -> None:
        """Cut off the answer being spoken; what was already sent stays in its item."""
        if self._reply is None:
            raise InvalidRequestError(
                "There is no response audio to clear.", code="response_audio_not_found"
            )
        await self._stop_response()
        await self._channel.send(
            {"type": "output_audio_buffer.cleared", "response_id": self._reply.id}
        )

    async def _add_item(
        self, item: dict[str, Any], previous: str | None, text: str | None = None
    ) -> None:
        self._last_item = item["id"]
        self._items.add(item, text)
        await self._channel.send(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
        )
        await self._channel.send(
            {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
        )

    async def _response_create(self, event: dict[str, Any]) -> None:
        if self._responding is not None and not self._responding.done():
            raise InvalidRequestError(
                "The conversation already has an active response.",
                code="conversation_already_has_active_response",
            )
        await self._start_response(ResponseOptions.parse(event.get("response")))

    async def _response_cancel(self, event: dict[str, Any]) -> None:
        if self._responding is None or self._responding.done():
            raise InvalidRequestError(
                "There is no active response to cancel.", code="response_cancel_not_active"
            )
        await self._stop_response()

    async def _start_response(self, options: ResponseOptions = DEFAULT_RESPONSE) -> None:
        if self._gate is not None:  # past a cap: refused here, or the oldest turns dropped
            spoken = "audio" in (options.modalities or self._config.output_modalities)
            instructions = options.instructions or self._config.instructions
            read = self._items.read()
            for item_id in await self._gate.admit(self._channel, read, instructions, spoken):
                await self._item_delete({"item_id": item_id})
        reply = await announce(self._channel, self._config, options)
        self._reply = reply
        self._responding = asyncio.create_task(self._respond(options, reply))

    async def _respond(self, options: ResponseOptions, reply: Reply) -> None:
        previous = self._last_item
        messages = self._items.messages() or [{"role": "user", "content": "Hello."}]
        try:
            await respond(
                self._channel, self._work, self._config, options, messages, previous, reply
            )
        except SessionOver as over:
            self._end(over)
            return
        finally:
            if reply.added:  # completed or cut off, the answer stays in the conversation
                self._last_item = reply.item_id
                status = "completed" if reply.status == "completed" else "incomplete"
                spoken_ms = reply.audio_bytes * 1000 // BYTES_PER_SECOND
                self._items.answered(reply.item(status), reply.text, spoken_ms)

    def _end(self, over: SessionOver) -> None:
        if not self._over.done():
            self._over.set_result(over)

    async def _stop_response(self) -> None:
        task = self._responding
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if self._reply is not None:  # cancelled before its work began, it is closed here
                await close_cancelled(self._channel, self._reply, self._work)


def _audio(value: object, param: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidRequestError("audio must be base64 PCM16 as a string.", param=param)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError("audio is not valid base64.", param=param) from exc


def _user_item(item_id: str, part: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [part],
    }
