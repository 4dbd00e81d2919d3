"""A transcription session served here (the local engine, the simulator): audio in, text out,
no responses.

Server VAD (Silero) cuts the audio into turns: `input_audio_buffer.speech_started` when speech
starts, then, while the user speaks, the growing turn is transcribed again after each
`INTERIM_SECONDS` of new audio and what it adds is sent as `…input_audio_transcription.delta`;
when speech stops the turn is committed and transcribed whole (`.completed`). With turn
detection off, the client commits, and deltas come as its buffer grows. Each piece is heard
through `Hearing`, which holds and charges the new audio it covers before it runs.
"""

import asyncio
import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from voxgate.audio.vad import Vad
from voxgate.errors import GatewayError, InvalidRequestError
from voxgate.gateway.realtime.responses import new_id
from voxgate.gateway.realtime.session_config import RATE
from voxgate.gateway.realtime.transcription_config import TranscriptionConfig
from voxgate.gateway.realtime.wire import ClientChannel, Handler, dispatch
from voxgate.gateway.realtime.work import SessionOver
from voxgate.providers.errors import UpstreamError

BYTES_PER_SECOND = RATE * 2
INTERIM_SECONDS = 1.0
# Audio kept before speech starts (the detector's prefix padding reaches into it).
LEAD_IN_SECONDS = 1.0


class Hearing(Protocol):
    async def hear(self, pcm: bytes, config: TranscriptionConfig, new_bytes: int) -> str:
        """What is said in 24 kHz PCM16 `pcm`, with the transcription model `config` names;
        the last `new_bytes` of it are audio not charged yet (held and charged here)."""
        ...


@dataclass
class Turn:
    """The audio of the turn under way and what has been said of it so far."""

    item_id: str = field(default_factory=lambda: new_id("item"))
    pcm: bytearray = field(default_factory=bytearray)
    # Where the buffer starts in the session's audio, in bytes.
    offset: int = 0
    charged_bytes: int = 0
    interim_bytes: int = 0
    sent: str = ""


class TranscriptionSession:
    def __init__(
        self,
        channel: ClientChannel,
        hearing: Hearing,
        config: TranscriptionConfig,
        *,
        max_buffer_seconds: float,
        vad_factory: Callable[[TranscriptionConfig], Vad | None],
        check_model: Callable[[str], object] = lambda model: None,
    ) -> None:
        self._channel = channel
        self._hearing = hearing
        self._config = config
        self._max_buffer_bytes = int(max_buffer_seconds * BYTES_PER_SECOND)
        self._vad_factory = vad_factory
        # Raises InvalidRequestError for a transcription model the session cannot use.
        self._check_model = check_model
        self._vad = vad_factory(config)
        self._turn = Turn()
        self._heard_bytes = 0
        self._last_item: str | None = None
        self._interim: asyncio.Task[None] | None = None
        self._over: asyncio.Future[SessionOver] = asyncio.get_running_loop().create_future()
        # The beta protocol names a transcription session's settings events apart.
        prefix = "transcription_session" if channel.dialect.beta else "session"
        self._prefix = prefix
        self._handlers: dict[str, Handler] = {
            f"{prefix}.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit_event,
            "input_audio_buffer.clear": self._clear,
        }

    @property
    def config(self) -> TranscriptionConfig:
        return self._config

    async def created(self) -> None:
        await self._channel.send(
            {"type": f"{self._prefix}.created", "session": self._config.view(self._channel.dialect)}
        )

    async def run(self, pending: Sequence[dict[str, Any]] = ()) -> None:
        """Serve events (after `pending`, already read) until the client leaves or the
        session is over."""
        try:
            for event in pending:
                await self._dispatch(event)
            while not self._over.done():
                await self._dispatch(await self._next_event())
        finally:
            if self._interim is not None:
                self._interim.cancel()
                await asyncio.gather(self._interim, return_exceptions=True)
        raise self._over.result()

    async def _next_event(self) -> dict[str, Any]:
        receiving = asyncio.ensure_future(self._channel.next_event())
        try:
            either: set[asyncio.Future[Any]] = {receiving, self._over}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not receiving.done():
                receiving.cancel()
                await asyncio.gather(receiving, return_exceptions=True)
        if self._over.done():
            raise self._over.result()
        return receiving.result()

    async def _dispatch(self, event: dict[str, Any]) -> None:
        await dispatch(
            self._channel,
            self._handlers,
            event,
            self._end,
            unknown_in=" in a transcription session",
        )

    async def _session_update(self, event: dict[str, Any]) -> None:
        config = self._config.updated(event.get("session"), self._channel.dialect.beta)
        try:
            self._check_model(config.model)
        except InvalidRequestError as exc:
            where = (
                "input_audio_transcription"
                if self._channel.dialect.beta
                else ("audio.input.transcription")
            )
            exc.param = f"session.{where}.model"
            raise
        if config.turn_detection != self._config.turn_detection:
            self._vad = self._vad_factory(config)
        self._config = config
        await self._channel.send(
            {"type": f"{self._prefix}.updated", "session": config.view(self._channel.dialect)}
        )

    async def _append(self, event: dict[str, Any]) -> None:
        pcm = _audio(event.get("audio"))
        turn = self._turn
        if len(turn.pcm) + len(pcm) > self._max_buffer_bytes:
            raise InvalidRequestError(
                f"The input audio buffer holds at most {self._max_buffer_bytes // BYTES_PER_SECOND}"
                " s; commit or clear it first.",
                param="audio",
                code="input_audio_buffer_full",
            )
        turn.pcm += pcm
        self._heard_bytes += len(pcm)
        if self._vad is None:
            self._maybe_interim()
            return
        for edge in await asyncio.to_thread(self._vad.feed, pcm):
            if edge.kind == "started":
                self._speech_started_at(edge.at_ms)
                await self._channel.send(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": edge.at_ms,
                        "item_id": self._turn.item_id,
                    }
                )
            else:
                await self._channel.send(
                    {
                        "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": edge.at_ms,
                        "item_id": self._turn.item_id,
                    }
                )
                await self._commit()
        if self._vad.speaking:
            self._maybe_interim()
        else:
            self._keep_lead_in()

    def _speech_started_at(self, at_ms: int) -> None:
        """The turn starts where speech (with its padding) does: earlier audio is dropped."""
        turn = self._turn
        start = at_ms * BYTES_PER_SECOND // 1000 // 2 * 2
        drop = max(0, min(len(turn.pcm), start - turn.offset))
        del turn.pcm[:drop]
        turn.offset += drop

    def _keep_lead_in(self) -> None:
        turn = self._turn
        drop = max(0, len(turn.pcm) - int(LEAD_IN_SECONDS * BYTES_PER_SECOND))
        del turn.pcm[:drop]
        turn.offset += drop

    def _maybe_interim(self) -> None:
        """Transcribe the growing turn again once it has a second of audio not yet heard."""
        turn = self._turn
        fresh = len(turn.pcm) - turn.interim_bytes
        if fresh < INTERIM_SECONDS * BYTES_PER_SECOND:
            return
        if self._interim is not None and not self._interim.done():
            return
        turn.interim_bytes = len(turn.pcm)
        self._interim = asyncio.create_task(self._interim_delta(turn, bytes(turn.pcm)))

    async def _interim_delta(self, turn: Turn, pcm: bytes) -> None:
        try:
            text = await self._heard(turn, pcm)
        except SessionOver as over:
            self._end(over)
            return
        except (GatewayError, UpstreamError):  # an interim result is not owed; the final is
            return
        if turn is not self._turn or not text.startswith(turn.sent) or text == turn.sent:
            return
        delta, turn.sent = text[len(turn.sent) :], text
        await self._channel.send(
            {
                "type": "conversation.item.input_audio_transcription.delta",
                "item_id": turn.item_id,
                "content_index": 0,
                "delta": delta,
            }
        )

    async def _heard(self, turn: Turn, pcm: bytes) -> str:
        new_bytes = max(0, len(pcm) - turn.charged_bytes)
        turn.charged_bytes += new_bytes
        return (await self._hearing.hear(pcm, self._config, new_bytes)).strip()

    async def _commit_event(self, event: dict[str, Any]) -> None:
        if not self._turn.pcm:
            raise InvalidRequestError(
                "The input audio buffer is empty; append audio before committing.",
                code="input_audio_buffer_commit_empty",
            )
        await self._commit()

    async def _commit(self) -> None:
        if self._interim is not None:  # its delta goes out before the final transcript
            await asyncio.gather(self._interim, return_exceptions=True)
        turn, previous = self._turn, self._last_item
        self._turn = Turn(offset=self._heard_bytes)
        self._last_item = turn.item_id
        await self._channel.send(
            {
                "type": "input_audio_buffer.committed",
                "item_id": turn.item_id,
                "previous_item_id": previous,
            }
        )
        pcm = bytes(turn.pcm)
        text = await self._heard(turn, pcm)
        await self._channel.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": turn.item_id,
                "content_index": 0,
                "transcript": text,
                "usage": {"type": "duration", "seconds": round(len(pcm) / BYTES_PER_SECOND, 3)},
            }
        )

    async def _clear(self, event: dict[str, Any]) -> None:
        self._turn = Turn(offset=self._heard_bytes)
        if self._vad is not None:
            self._vad.reset()
        await self._channel.send({"type": "input_audio_buffer.cleared"})

    def _end(self, over: SessionOver) -> None:
        if not self._over.done():
            self._over.set_result(over)


def _audio(value: object) -> bytes:
    if not isinstance(value, str):
        raise InvalidRequestError("audio must be a base64 string.", param="audio")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError("audio is not valid base64.", param="audio") from exc
