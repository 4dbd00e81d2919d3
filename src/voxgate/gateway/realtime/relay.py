"""A realtime session relayed to its upstream, charged response by response.

Events pass both ways as they arrive (audio is never buffered) and as the provider wrote them;
the gateway only maps voice names and guards what the client sends. Each `response.done` is
charged from its usage as it passes; the bill then holds the next step ahead. A response still
under way when the session ends (the client left, or the gateway ended it) is cancelled
upstream and charged from the `response.done` that closes it: the provider bills it either way.
Input transcription billed by duration is priced by the transcription model the session names,
which must be in the catalog (its row has the per-minute price).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from voxgate.billing.pricing import Metered
from voxgate.catalog.loader import Catalog
from voxgate.catalog.schema import ModelRow
from voxgate.errors import InvalidRequestError
from voxgate.gateway.realtime.bill import SessionBill
from voxgate.gateway.realtime.dialect import BETA_HEADER, BETA_VALUE, as_object, beta_session
from voxgate.gateway.realtime.wire import ClientChannel, error_event, is_closed
from voxgate.gateway.realtime.work import SessionOver
from voxgate.providers.errors import UpstreamError
from voxgate.routing.failover import Success
from voxgate.routing.planner import PlannedAttempt

logger = logging.getLogger(__name__)

# How long a session that ended mid-response waits for the provider's account of it.
CANCELLED_RESPONSE_WAIT_SECONDS = 5.0

# The gateway's one failover loop, given how to open one attempt's upstream socket.
Connector = Callable[
    [Callable[[PlannedAttempt[Any]], Awaitable[ClientConnection]]],
    Awaitable[Success[ClientConnection]],
]


class RealtimeRelay:
    def __init__(
        self, channel: ClientChannel, bill: SessionBill, catalog: Catalog, connect: Connector
    ) -> None:
        self._channel = channel
        self._bill = bill
        self._catalog = catalog
        self._connect = connect
        self._attempt: PlannedAttempt[Any] | None = None
        # The row that prices input transcription billed by duration, once the session names it.
        self._transcriber: ModelRow | None = None
        # Responses the provider has created and not yet closed with their response.done.
        self._open_responses: set[str] = set()

    async def run(self, session: dict[str, Any]) -> None:
        """Open the upstream session on the first route and key that accepts it (failing over
        as every request does), then relay until either side closes."""
        serving = await self._connect(self._open)
        self._attempt = serving.attempt
        self._bill.serving(serving.attempt.route.provider, serving.attempt.label)
        async with serving.result as upstream:
            if session:
                shaped = beta_session(session) if self._channel.dialect.beta else session
                await self._forward(upstream, {"type": "session.update", "session": shaped})
            try:
                await _first_done(
                    self._client_to_upstream(upstream), self._upstream_to_client(upstream)
                )
            finally:
                await asyncio.shield(self._charge_unfinished(upstream))

    async def _open(self, attempt: PlannedAttempt[Any]) -> ClientConnection:
        url, headers = attempt.provider.realtime_target(attempt.upstream)
        if self._channel.dialect.beta:
            headers = headers | {BETA_HEADER: BETA_VALUE}
        provider = attempt.route.provider
        try:
            return await websockets.connect(url, additional_headers=headers)
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise UpstreamError(provider, f"refused the session ({status})", status=status) from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise UpstreamError(provider, f"no session: {type(exc).__name__}") from exc

    async def _client_to_upstream(self, upstream: Any) -> None:
        while True:
            await self._forward(upstream, await self._channel.next_event())

    async def _forward(self, upstream: Any, event: dict[str, Any]) -> None:
        """Send the client's event upstream, unless it names a transcription model the gateway
        cannot price: then the client gets an error naming the field, and nothing changes."""
        refusal = self._refusal(event)
        if refusal is not None:
            await self._channel.send(refusal)
            return
        await upstream.send(self._mapped(event))

    def _refusal(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The error event for a session.update naming an unknown transcription model; for a
        known one, notes its row."""
        if event.get("type") != "session.update":
            return None
        try:
            row = transcriber(self._catalog, as_object(event.get("session")), "session.")
        except InvalidRequestError as exc:
            return error_event(
                exc.message,
                code=exc.code or "invalid_value",
                param=exc.param,
                client_event_id=event.get("event_id"),
            )
        self._transcriber = row or self._transcriber
        return None

    async def _upstream_to_client(self, upstream: Any) -> None:
        async for message in upstream:
            text = _text(message)
            # Only the events that open or bill work are parsed; the rest pass as they came.
            if any(kind in text for kind in _PARSED):
                event = orjson.loads(text)
                meter = self._meter(event)
                if meter is not None:
                    await self._charge(meter, str(event["type"]), text)
                    continue
            await self._channel.send_raw(text)

    def _pricing_row(self, metered: Metered) -> ModelRow | None:
        """Transcription by duration is priced by its own model; the rest by the session's."""
        return self._transcriber if metered.audio_milliseconds else None

    def _meter(self, event: dict[str, Any]) -> Metered | None:
        """What the event bills, if it bills; notes the responses it opens and closes."""
        kind = event.get("type")
        if kind == "response.created":
            self._open_responses.add(_response_id(event))
        elif kind == "response.done":
            self._open_responses.discard(_response_id(event))
        meter = _METERS.get(str(kind))
        return None if meter is None else meter(event)

    async def _charge(self, metered: Metered, what: str, text: str) -> None:
        """Charge the work the event reports, then pass it on (also when the charge ends the
        session: the client sees what it was charged for)."""
        try:
            await self._bill.charge(metered, what, self._pricing_row(metered))
        finally:
            await self._channel.send_raw(text)

    async def _charge_unfinished(self, upstream: ClientConnection) -> None:
        """Cancel the responses still under way and charge what their response.done reports;
        nothing reaches the client, which has left or is being shown out."""
        if not self._open_responses or upstream.state is not State.OPEN:
            return
        try:
            async with asyncio.timeout(CANCELLED_RESPONSE_WAIT_SECONDS):
                await upstream.send(orjson.dumps({"type": "response.cancel"}).decode())
                async for message in upstream:
                    text = _text(message)
                    if '"response.done"' not in text:
                        continue
                    event = orjson.loads(text)
                    meter = self._meter(event)
                    if meter is not None:
                        await self._bill.charge(meter, "response.done", self._pricing_row(meter))
                    if not self._open_responses:
                        return
        except (TimeoutError, ConnectionClosed, SessionOver) as exc:
            if not isinstance(exc, SessionOver):  # a SessionOver comes after its charge
                logger.warning(
                    "%d realtime response(s) left under way were not reported by the provider "
                    "(%s): not charged",
                    len(self._open_responses),
                    type(exc).__name__,
                )

    def _mapped(self, event: dict[str, Any]) -> str:
        """The client's event with OpenAI voice names mapped to the serving provider's."""
        session = event.get("session")
        if event.get("type") == "session.update" and isinstance(session, dict):
            output = (session.get("audio") or {}).get("output")
            holder = output if isinstance(output, dict) and "voice" in output else session
            voice = holder.get("voice")
            if isinstance(voice, str) and self._attempt is not None:
                provider = self._attempt.route.provider
                holder["voice"] = self._catalog.voices.native_voice(voice, provider)
        return orjson.dumps(event).decode()


async def _first_done(*work: Any) -> None:
    """Run both directions; when either ends (a side closed), stop the other."""
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


TRANSCRIBED = "conversation.item.input_audio_transcription.completed"


def _response_usage(event: dict[str, Any]) -> Metered:
    usage = as_object(as_object(event.get("response")).get("usage"))
    details_in = as_object(usage.get("input_token_details"))
    details_out = as_object(usage.get("output_token_details"))
    return Metered(
        text_input_tokens=_count(details_in.get("text_tokens")),
        audio_input_tokens=_count(details_in.get("audio_tokens")),
        text_output_tokens=_count(details_out.get("text_tokens")),
        audio_output_tokens=_count(details_out.get("audio_tokens")),
        requests=0,
    )


def _transcription_usage(event: dict[str, Any]) -> Metered:
    """Input transcription is billed apart from responses: by tokens, or by duration."""
    usage = as_object(event.get("usage"))
    if usage.get("type") == "duration":
        seconds = usage.get("seconds")
        milliseconds = round(float(seconds) * 1000) if isinstance(seconds, int | float) else 0
        return Metered(audio_milliseconds=max(0, milliseconds), requests=0)
    details = as_object(usage.get("input_token_details"))
    return Metered(
        text_input_tokens=_count(details.get("text_tokens")),
        audio_input_tokens=_count(details.get("audio_tokens")),
        text_output_tokens=_count(usage.get("output_tokens")),
        requests=0,
    )


_METERS = {"response.done": _response_usage, TRANSCRIBED: _transcription_usage}
_PARSED = ('"response.created"', '"response.done"', TRANSCRIBED)


def transcriber(catalog: Catalog, session: dict[str, Any], where: str) -> ModelRow | None:
    """The row of the transcription model a session names (GA or beta shape), None when it
    names none; InvalidRequestError naming the field (under `where`) for one the catalog lacks."""
    ga = as_object(as_object(as_object(session.get("audio")).get("input")).get("transcription"))
    beta = as_object(session.get("input_audio_transcription"))
    for holder, field in (
        (ga, "audio.input.transcription.model"),
        (beta, "input_audio_transcription.model"),
    ):
        model = holder.get("model")
        if not isinstance(model, str):
            continue
        row = catalog.get(model)
        if row is None or "transcription" not in row.tasks:
            raise InvalidRequestError(
                f"The transcription model '{model}' is not one this gateway serves.",
                param=f"{where}{field}",
                code="invalid_value",
            )
        return row
    return None


def _text(message: str | bytes) -> str:
    return message if isinstance(message, str) else message.decode()


def _response_id(event: dict[str, Any]) -> str:
    return str(as_object(event.get("response")).get("id"))


def _count(value: object) -> int:
    """A token count as the provider reported it; anything but a non-negative integer is 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
