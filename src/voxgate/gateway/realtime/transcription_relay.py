"""A transcription session relayed to a realtime provider (OpenAI, Azure) as-is.

The upstream socket is the provider's realtime URL with `intent=transcription` (the model moves
into the session's settings, as OpenAI wants it). The gateway already greeted the client, so
the provider's own greeting, and its answer to the settings the gateway sends first, stay
upstream; everything else passes both ways as it was written, but for the transcription model's
name, which becomes the route's upstream model. Each appended piece of audio is held at the
row's per-minute price before it goes upstream (refused with an error event when the credit
cannot hold it); each `…input_audio_transcription.completed` is charged from those holds, for
no more audio than was sent.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import orjson
from websockets.exceptions import ConnectionClosed

from voxgate.billing.pricing import Metered, cost
from voxgate.catalog.schema import ModelRow
from voxgate.errors import InsufficientCreditError, InvalidRequestError
from voxgate.gateway.realtime.dialect import as_object
from voxgate.gateway.realtime.relay import UPSTREAM_MAX_EVENT_BYTES, transcriber
from voxgate.gateway.realtime.session_gateway import SessionGateway
from voxgate.gateway.realtime.transcribing import BYTES_PER_SECOND
from voxgate.gateway.realtime.transcription_config import TranscriptionConfig
from voxgate.gateway.realtime.wire import (
    ClientChannel,
    credit_refusal,
    decoded_size,
    error_event,
    is_closed,
)
from voxgate.gateway.realtime.work import SessionOver
from voxgate.gateway.session_charge import SessionCharge
from voxgate.providers.protocols import RealtimeOptions, RealtimeSocket
from voxgate.routing.planner import PlannedAttempt

TRANSCRIBED = "conversation.item.input_audio_transcription.completed"
GREETINGS = frozenset({"session.created", "transcription_session.created"})
ANSWERS = frozenset({"session.updated", "transcription_session.updated"})
NORMAL_CLOSE = 1000


class TranscriptionRelay:
    def __init__(
        self,
        channel: ClientChannel,
        charge: SessionCharge,
        gateway: SessionGateway,
        row: ModelRow,
        attempts: list[PlannedAttempt[Any]],
    ) -> None:
        self._channel = channel
        self._charge = charge
        self._gateway = gateway
        self._row = row
        self._attempts = attempts
        self._upstream_model = row.id
        # Audio sent upstream and not yet charged, and what is held for it.
        self._unbilled_ms = 0
        self._reserved = 0
        # Upstream events the client must not see: the greeting, the answer to our settings.
        self._hidden = {"greeting": 1, "answer": 1}

    async def run(self, config: TranscriptionConfig, pending: Sequence[dict[str, Any]]) -> None:
        serving = await self._gateway.attempts(self._row.id, self._attempts, self._open)
        attempt = serving.attempt
        self._upstream_model = attempt.upstream.model or self._row.id
        self._charge.serving(attempt.route.provider, attempt.label)
        upstream = serving.result
        try:
            await upstream.send(orjson.dumps(self._settings(config)).decode())
            for event in pending:
                await self._forward(upstream, event)
            tasks = [self._client_to_upstream(upstream), self._upstream_to_client(upstream)]
            await _first_done(*tasks)
        finally:
            await upstream.close()

    async def _open(self, attempt: PlannedAttempt[Any]) -> RealtimeSocket:
        options = RealtimeOptions(
            beta=self._channel.dialect.beta,
            shape=self._channel.dialect.outgoing,
            transcription=True,
            max_event_bytes=UPSTREAM_MAX_EVENT_BYTES,
        )
        socket: RealtimeSocket = await attempt.provider.open_realtime(attempt.upstream, options)
        return socket

    def _settings(self, config: TranscriptionConfig) -> dict[str, Any]:
        """The session's settings so far as a session update, for the provider."""
        beta = self._channel.dialect.beta
        shown = config.view(self._channel.dialect)
        session = {k: v for k, v in shown.items() if k not in ("id", "object", "modalities")}
        update = {
            "type": "transcription_session.update" if beta else "session.update",
            "session": session,
        }
        self._upstream_named(update)
        return update

    def _upstream_named(self, event: dict[str, Any]) -> None:
        """Name the route's upstream model where the client named the catalog's."""
        session = as_object(event.get("session"))
        holders = (
            as_object(session.get("input_audio_transcription")),
            as_object(as_object(as_object(session.get("audio")).get("input")).get("transcription")),
        )
        for holder in holders:
            if "model" in holder:
                holder["model"] = self._upstream_model

    async def _client_to_upstream(self, upstream: RealtimeSocket) -> None:
        while True:
            await self._forward(upstream, await self._channel.next_event())

    async def _forward(self, upstream: RealtimeSocket, event: dict[str, Any]) -> None:
        kind = event.get("type")
        client_id = event.get("event_id")
        if kind in ("session.update", "transcription_session.update"):
            refusal = self._other_model(event)
            if refusal is not None:
                await self._channel.send(refusal)
                return
            self._upstream_named(event)
        elif kind == "input_audio_buffer.append":
            milliseconds = decoded_size(event.get("audio")) * 1000 // BYTES_PER_SECOND
            worst = cost(self._row.pricing, Metered(audio_milliseconds=milliseconds, requests=0))
            try:
                await self._charge.reserve(worst)
            except InsufficientCreditError as exc:
                client_event_id = client_id if isinstance(client_id, str) else None
                await self._channel.send(credit_refusal(exc, client_event_id))
                return
            self._reserved += worst
            self._unbilled_ms += milliseconds
        await upstream.send(orjson.dumps(event).decode())

    def _other_model(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """An error event for settings naming a transcription model other than the one this
        session was opened on (or none the catalog has)."""
        session = as_object(event.get("session"))
        client_id = event.get("event_id")
        client_id = client_id if isinstance(client_id, str) else None
        try:
            row = transcriber(self._gateway.catalog, session, "session.")
        except InvalidRequestError as exc:
            return error_event(
                exc.message, code="invalid_value", param=exc.param, client_event_id=client_id
            )
        if row is None or row.id == self._row.id:
            return None
        return error_event(
            f"This session transcribes with '{self._row.id}'; open a new session for '{row.id}'.",
            code="invalid_value",
            param="session.audio.input.transcription.model",
            client_event_id=client_id,
        )

    async def _upstream_to_client(self, upstream: RealtimeSocket) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in upstream:
                text = message if isinstance(message, str) else message.decode()
                if not self._passes(text):
                    continue
                event = None
                if TRANSCRIBED in text:
                    event = orjson.loads(text)
                    await self._draw_transcribed(as_object(event))
                await self._channel.send_raw(text, event)
        if upstream.close_code not in (None, NORMAL_CLOSE):
            raise SessionOver(
                f"The realtime provider closed the session ({upstream.close_code}).",
                code="upstream_closed",
                kind="server_error",
            )

    def _passes(self, text: str) -> bool:
        for hidden, kinds in (("greeting", GREETINGS), ("answer", ANSWERS)):
            if self._hidden[hidden] and any(f'"{kind}"' in text for kind in kinds):
                self._hidden[hidden] -= 1
                return False
        return True

    async def _draw_transcribed(self, event: dict[str, Any]) -> None:
        """Charge a finished transcription from what its audio held: the duration the provider
        reports, never more than was sent (all that was sent when it reports tokens)."""
        usage = as_object(event.get("usage"))
        seconds = usage.get("seconds")
        reported = self._unbilled_ms
        if usage.get("type") == "duration" and isinstance(seconds, int | float):
            reported = max(0, round(seconds * 1000))
        milliseconds = min(reported, self._unbilled_ms)
        metered = Metered(audio_milliseconds=milliseconds, requests=0)
        reserved, self._reserved = self._reserved, 0
        self._unbilled_ms -= milliseconds
        await self._charge.draw(metered, TRANSCRIBED, self._row, reserved=reserved)
        rest = cost(self._row.pricing, Metered(audio_milliseconds=self._unbilled_ms, requests=0))
        if rest:
            await self._charge.reserve(rest)
            self._reserved = rest


async def _first_done(*work: Any) -> None:
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None and not is_closed(error):
            raise error
