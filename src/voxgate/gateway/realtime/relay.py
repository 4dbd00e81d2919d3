"""A realtime session relayed to its upstream, held and charged response by response.

Client events pass upstream as the client wrote them and the provider's events come back as it
wrote them (audio is never buffered); the gateway rewrites only what it owns: voice names, and
each `response.create`'s output cap. Before a `response.create` is forwarded, the session's
hold grows by that response's worst case (the conversation so far, as the gateway bounds it,
plus its output tokens), and the response is capped to the output the credit holds; one the
credit cannot cover gets an `error` event and never reaches the provider (`ResponseHolds`,
response_holds.py). The responses server VAD would start are taken over the same way
(`turns.VadTurns`): the provider never starts one by itself; should one start all the same, it
is held when created, or cancelled. Each `response.done` is charged from its usage, from what
the response held.

A response still under way when the session ends (the client left, or the gateway ended it) is
cancelled upstream and charged from the `response.done` that closes it: the provider bills it
either way. One the provider never accounts for (its socket died, or it did not answer in
time) is charged from what passed: its input and the output that reached the client.
Input transcription billed by duration is priced by the transcription model the session names,
which must be in the catalog (its row has the per-minute price).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from voxgate.catalog.loader import Catalog
from voxgate.catalog.schema import ModelRow
from voxgate.errors import GatewayError, InvalidRequestError
from voxgate.gateway.realtime.caps import RelayedTurns, SessionBudget, SessionCaps
from voxgate.gateway.realtime.dialect import as_object, beta_session
from voxgate.gateway.realtime.failover import (
    FailoverTerms,
    SessionReplay,
    UpstreamLost,
    failed_done,
    moved_event,
    over,
    until_lost,
)
from voxgate.gateway.realtime.held import (
    ConversationBound,
    HeldResponse,
)
from voxgate.gateway.realtime.last_hop import LastHop
from voxgate.gateway.realtime.relay_events import (
    AUDIO_DELTAS,
    PARSED,
    TEXT_DELTAS,
    TRANSCRIBED,
    is_server_error,
    response_id_of,
    response_usage,
    text_of,
    transcription_usage,
)
from voxgate.gateway.realtime.response_holds import ResponseHolds
from voxgate.gateway.realtime.turns import VadTurns
from voxgate.gateway.realtime.wire import MAX_EVENT_BYTES, ClientChannel, error_event
from voxgate.gateway.realtime.work import SessionOver
from voxgate.gateway.session_charge import SessionCharge
from voxgate.providers.protocols import PROVIDER_USAGE, RealtimeOptions, RealtimeSocket
from voxgate.routing.failover import Success
from voxgate.routing.planner import PlannedAttempt

logger = logging.getLogger(__name__)

# How long a session that ended mid-response waits for the provider's account of it.
CANCELLED_RESPONSE_WAIT_SECONDS = 5.0
# The largest event the upstream socket takes: a provider echoes client events of up to
# MAX_EVENT_BYTES in its own (larger) envelopes, so well past the websockets default of 1 MiB.
UPSTREAM_MAX_EVENT_BYTES = 2 * MAX_EVENT_BYTES
NORMAL_CLOSE = 1000

# The gateway's one failover loop over the attempts given, and how to open one's socket.
Connector = Callable[
    [list[PlannedAttempt[Any]], Callable[[PlannedAttempt[Any]], Awaitable[RealtimeSocket]]],
    Awaitable[Success[RealtimeSocket]],
]


class RealtimeRelay:
    def __init__(
        self,
        channel: ClientChannel,
        charge: SessionCharge,
        catalog: Catalog,
        connect: Connector,
        attempts: list[PlannedAttempt[Any]],
        terms: FailoverTerms,
        last_hop: LastHop | None = None,
        *,
        caps: SessionCaps | None = None,
    ) -> None:
        self._channel = channel
        self._charge = charge
        self._catalog = catalog
        self._connect = connect
        self._attempts = attempts
        self._terms = terms
        self._last_hop = last_hop
        self._attempt: PlannedAttempt[Any] | None = None
        self._upstream: Any = None
        # Set while an upstream takes the client's events (cleared while the session moves).
        self._ready = asyncio.Event()
        self._switch = asyncio.Condition()
        self._forwarding = asyncio.Lock()
        self._replay = SessionReplay(channel.dialect.beta)
        self._hidden_created = False
        # The client's event read and not yet taken by an upstream, with its text.
        self._unsent: tuple[dict[str, Any], str] | None = None
        # The responses under way on the route last lost: (their id once created, their hold).
        self._under_way: list[tuple[str | None, HeldResponse]] = []
        # The row that prices input transcription billed by duration, once the session names it.
        self._transcriber: ModelRow | None = None
        self._conversation = ConversationBound()
        self._turns = VadTurns()
        self._budget = SessionBudget(caps or SessionCaps(), charge)
        self._items = RelayedTurns()
        self._responses = ResponseHolds(
            channel, charge, self._conversation, self._budget, self._items
        )

    async def run(self, session: dict[str, Any]) -> None:
        """Open the upstream session on the first route and key that accepts it (failing over
        as every request does), then relay until either side closes; an upstream lost
        mid-session moves the session to the next route (`failover`)."""
        self._budget.session_update(session)
        upstream = await self._connect_next(self._attempts)
        self._channel.stages.upstream_connected()
        await upstream.send(orjson.dumps(self._turns.opening(self._channel.dialect.beta)).decode())
        if session:
            shaped = beta_session(session) if self._channel.dialect.beta else session
            update = {"type": "session.update", "session": shaped}
            await self._forward(upstream, update, orjson.dumps(update).decode())
        self._ready.set()
        reader = asyncio.ensure_future(self._client_to_upstream())
        try:
            while (
                lost := await until_lost(reader, self._upstream_to_client(upstream))
            ) is not None:
                moved = await self._moved(upstream, lost)
                if moved is None:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
                    await self._hand_over(lost)
                    return
                upstream = moved
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await asyncio.shield(self._charge_unfinished(self._upstream))
            await self._upstream.close()

    async def _connect_next(self, attempts: list[PlannedAttempt[Any]]) -> RealtimeSocket:
        serving = await self._connect(attempts, self._open)
        self._attempt = serving.attempt
        self._charge.serving(serving.attempt.route.provider, serving.attempt.label)
        self._upstream = serving.result
        return serving.result

    async def _moved(self, lost_on: RealtimeSocket, lost: UpstreamLost) -> RealtimeSocket | None:
        """Charge what the lost route served, open the next route and replay the session to
        it; None when only the row's last hop is left. SessionOver (the session ends as before)
        when failover is off or nothing is left."""
        self._ready.clear()
        await lost_on.close()
        async with self._forwarding:  # a client event under way is held (or not) by now
            self._under_way = self._responses.unfinished()
            await self._responses.charge_passed(lost_on)
        moved_from = self._charge.served_by
        left = self._attempts[self._attempts.index(self._attempt) + 1 :] if self._attempt else []
        if not self._terms.enabled:
            raise over(lost)
        logger.warning("realtime upstream lost (%s); moving the session", lost.detail)
        try:
            upstream = await self._connect_next(left) if left else None
        except GatewayError as exc:
            if self._last_hop is None:
                raise over(lost) from exc
            upstream = None
        if upstream is None:
            if self._last_hop is None:
                raise over(lost)
            return None
        self._hidden_created = True
        owed = self._turns.moved()
        await upstream.send(orjson.dumps(self._turns.opening(self._channel.dialect.beta)).decode())
        for event in self._replay.events():
            await self._replayed(upstream, event)
        for update in self._replay.owed_updates(owed):
            await self._forward(upstream, update, orjson.dumps(update).decode())
        await self._announce(lost, moved_from)
        for held in self._recreated():
            capped = await self._responses.held_create(
                {"type": "response.create", "response": held}, self._upstream
            )
            if capped is not None:
                await upstream.send(capped)
        self._ready.set()
        async with self._switch:
            self._switch.notify_all()
        return upstream

    async def _announce(self, lost: UpstreamLost, moved_from: tuple[str, str]) -> None:
        """Tell the client where its session went, and close the answers that were under way."""
        action = "recreated" if self._terms.recreate else "failed"
        responses = [{"id": rid or "", "action": action} for rid, _ in self._under_way]
        moved_to = self._charge.served_by
        await self._channel.send(moved_event(lost.reason, moved_from, moved_to, responses))
        for response_id, _ in self._under_way:
            if response_id is not None:
                await self._channel.send(failed_done(response_id, lost.reason))

    def _recreated(self) -> list[dict[str, Any]]:
        """The settings of each response to ask the next route for again, per the settings."""
        return [held.asked for _, held in self._under_way] if self._terms.recreate else []

    async def _hand_over(self, lost: UpstreamLost) -> None:
        """Serve the rest of the session here, on the row's last hop, replayed."""
        assert self._last_hop is not None  # _moved hands over only to one
        hop = self._last_hop
        moved_from = self._charge.served_by
        self._charge.serving(hop.provider, hop.route, hop.row)
        await self._announce(lost, moved_from)
        responses = [{"type": "response.create", "response": r} for r in self._recreated()]
        unsent = [self._unsent[0]] if self._unsent is not None else []
        owed = [*self._replay.owed_updates(self._turns.moved()), *responses, *unsent]
        replay = [*self._replay.events(), self._budget.caps.update()]  # the caps go on there
        await hop.serve(self._channel, replay, owed)

    async def _replayed(self, upstream: RealtimeSocket, event: dict[str, Any]) -> None:
        """Send one replayed event as the relay sends the client's own: voices mapped, the
        provider's own responses off, counted in the conversation's bound."""
        if event["type"] == "session.update":
            self._turns.own_updates += 1
            self._turns.client_update(event, self._channel.dialect.beta)
            text = self._mapped(event) or orjson.dumps(event).decode()
        else:
            text = orjson.dumps(event).decode()
        self._conversation.client_event(event, text)
        await upstream.send(text)

    async def _open(self, attempt: PlannedAttempt[Any]) -> RealtimeSocket:
        """The route's upstream session, opened by its provider (in the OpenAI dialect, as
        the provider speaks it or translated)."""
        dialect = self._channel.dialect
        options = RealtimeOptions(
            beta=dialect.beta, shape=dialect.outgoing, max_event_bytes=UPSTREAM_MAX_EVENT_BYTES
        )
        socket: RealtimeSocket = await attempt.provider.open_realtime(attempt.upstream, options)
        return socket

    async def _client_to_upstream(self) -> None:
        """The client's events, to whichever upstream serves the session."""
        while True:
            self._unsent = await self._channel.next_message()
            await self._send_unsent()

    async def _send_unsent(self) -> None:
        """The client's event read last, to the upstream serving now: held while the session
        moves; one the lost upstream could not take goes to the next, but a response.create,
        which the move re-created or reported failed. One still unsent when the session is
        handed over to the last hop goes there (`_hand_over`)."""
        while self._unsent is not None:
            event, text = self._unsent
            await self._ready.wait()
            async with self._forwarding:
                if not self._ready.is_set():
                    continue  # the session began to move meanwhile
                lost = self._upstream
                try:
                    await self._forward(lost, event, text)
                    self._unsent = None
                    return
                except ConnectionClosed:
                    if event.get("type") == "response.create":
                        self._unsent = None
            await self._moved_from(lost)

    async def _moved_from(self, lost: Any) -> None:
        """Wait until the session has moved off the upstream that was lost."""
        async with self._switch:
            await self._switch.wait_for(lambda: self._upstream is not lost)

    async def _forward(self, upstream: Any, event: dict[str, Any], text: str) -> None:
        """Send the client's event upstream as it came, unless the gateway refuses it (an
        unknown transcription model, a response the credit cannot hold): then the client gets
        an error naming why, and nothing changes."""
        kind = event.get("type")
        refusal = self._refusal(event)
        if refusal is not None:
            await self._channel.send(refusal)
            return
        owned = kind == "session.update" and self._budget.session_update(event.get("session"))
        if kind == "response.create":
            capped = await self._responses.held_create(event, self._upstream)
            if capped is None:
                return
            text = capped
        elif kind == "session.update":
            self._replay.client_update(as_object(event.get("session")))
            mapped = self._mapped(event)
            if self._turns.client_update(event, self._channel.dialect.beta):
                mapped = orjson.dumps(event).decode()
            text = mapped or (orjson.dumps(event).decode() if owned else text)
        self._items.client_event(self._conversation, event, text)
        await upstream.send(text)
        if kind == "session.update":
            self._turns.unanswered_updates += 1
        if kind == "conversation.item.create":  # sent: the replay has it until confirmed
            self._replay.client_item(as_object(event.get("item")))

    def _refusal(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The error event for a session.update naming an unknown transcription model or a bad
        cap; for a known model, notes its row."""
        if event.get("type") != "session.update":
            return None
        try:
            session = as_object(event.get("session"))
            row = transcriber(self._catalog, session, "session.")
            self._budget.check_update(session)
        except InvalidRequestError as exc:
            return error_event(
                exc.message,
                code=exc.code or "invalid_value",
                param=exc.param,
                client_event_id=event.get("event_id"),
            )
        self._transcriber = row or self._transcriber
        return None

    async def _upstream_to_client(self, upstream: RealtimeSocket) -> None:
        """Pass the provider's events on; UpstreamLost when the provider drops the session,
        reports a server_error or stalls with a response under way (the last two watched only
        when failover is on: off, the session runs as it always did)."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                text = text_of(await self._receive(upstream))
                if self._terms.enabled and '"server_error"' in text and is_server_error(text):
                    raise UpstreamLost("server_error", "reported a server_error")
                event = None
                try:
                    event = await self._account(text, upstream)
                finally:  # the client sees what it was charged for, even when that ends it
                    if self._shows(event):
                        await self._channel.send_raw(self._shown(text, event), event)
        if upstream.close_code not in (None, NORMAL_CLOSE):
            raise UpstreamLost("upstream_closed", f"closed the session ({upstream.close_code})")

    async def _receive(self, upstream: RealtimeSocket) -> str | bytes:
        """The next upstream event. With a response under way, one must come within the stall
        time of the last event or of the response's asking, whichever is later."""
        if not self._terms.enabled:
            return await upstream.recv()
        stall, since = self._terms.stall_seconds, time.monotonic()
        while True:
            wait = stall
            if self._responses.under_way:
                wait = max(since, self._responses.asked_at) + stall - time.monotonic()
                if wait <= 0:
                    raise UpstreamLost("stalled", f"sent nothing for {stall:g} s mid-response")
            try:  # a cancelled recv loses nothing: the next one reads the same event
                async with asyncio.timeout(wait):
                    return await upstream.recv()
            except TimeoutError:
                continue

    def _shows(self, event: dict[str, Any] | None) -> bool:
        """Whether an upstream event reaches the client: not the answers to the relay's own
        updates and replay, nor a moved session's second session.created."""
        kind = event and event.get("type")
        if kind == "session.created" and self._hidden_created:
            self._hidden_created = False
            return False
        return self._turns.passes(kind) and not self._replay.hides(event)

    def _shown(self, text: str, event: dict[str, Any] | None) -> str:
        """The upstream event as the client sees it: as it came, but for a session.updated's
        create_response, which the relay owns, and the provider usage a translating socket adds
        to a response.done (already taken off the parsed event)."""
        if event is not None and PROVIDER_USAGE in text:
            return orjson.dumps(event).decode()  # the gateway's own field taken off
        if event is None or event.get("type") != "session.updated":
            return text
        restored = self._turns.shown(event, self._channel.dialect.beta)
        return text if restored is None else orjson.dumps(restored).decode()

    async def _account(self, text: str, upstream: Any) -> dict[str, Any] | None:
        """Note what an upstream event opens, passes or bills: the event, parsed, if it does
        (the rest pass as they came, unparsed)."""
        if not any(kind in text for kind in PARSED):
            return None
        event: dict[str, Any] = orjson.loads(text)
        self._replay.upstream_event(event)
        kind = event.get("type")
        answered = response_usage(event) if kind == "response.done" else None
        self._conversation.forget(self._items.upstream_event(event, answered))
        if kind == "response.created":
            await self._responses.created(response_id_of(event), upstream)
        elif kind in AUDIO_DELTAS or kind in TEXT_DELTAS:
            self._responses.passed(event)
        elif kind == "response.done":
            usage = response_usage(event)
            made = event.pop(PROVIDER_USAGE, None)  # the provider went past the cap it was given
            overrun = response_usage({"response": {"usage": made}}) if made else None
            await self._responses.done(response_id_of(event), usage, overrun)
        elif self._turns.turn_ended(kind):
            capped = await self._responses.held_create({"type": "response.create"}, self._upstream)
            if capped is not None:
                await upstream.send(capped)
        elif kind == TRANSCRIBED:
            usage = transcription_usage(event)
            row = self._transcriber if usage.audio_milliseconds else None
            await self._charge.draw(usage, TRANSCRIBED, row)
        return event

    async def _charge_unfinished(self, upstream: RealtimeSocket) -> None:
        """Cancel the responses still under way and charge what their response.done reports;
        those the provider never reports are charged from what passed. Nothing reaches the
        client, which has left or is being shown out."""
        if not self._responses.under_way:
            return
        if upstream.state is State.OPEN:
            try:
                async with asyncio.timeout(CANCELLED_RESPONSE_WAIT_SECONDS):
                    await self._cancel_all(upstream)
            except (TimeoutError, ConnectionClosed):
                pass
        await self._responses.charge_passed(upstream)

    async def _cancel_all(self, upstream: RealtimeSocket) -> None:
        for response_id in [*self._responses.open_ids(), None]:
            await _cancel(upstream, response_id)
        async for message in upstream:
            text = text_of(message)
            if '"response.created"' in text:
                await _cancel(upstream, response_id_of(orjson.loads(text)))
            # A SessionOver comes after its charge: the next step is all it lacks.
            with contextlib.suppress(SessionOver):
                await self._account(text, upstream)
            if not self._responses.under_way:
                return

    def _mapped(self, event: dict[str, Any]) -> str | None:
        """The client's session.update with OpenAI voice names mapped to the serving
        provider's; None when it names no voice (it passes as it came)."""
        session = as_object(event.get("session"))
        output = as_object(as_object(session.get("audio")).get("output"))
        holder = output if "voice" in output else session
        voice = holder.get("voice")
        if not isinstance(voice, str) or self._attempt is None:
            return None
        native = self._catalog.voices.native_voice(voice, self._attempt.route.provider)
        if native == voice:
            return None
        holder["voice"] = native
        return orjson.dumps(event).decode()


async def _cancel(upstream: RealtimeSocket, response_id: str | None) -> None:
    cancel: dict[str, Any] = {"type": "response.cancel"}
    if response_id is not None:
        cancel["response_id"] = response_id
    await upstream.send(orjson.dumps(cancel).decode())


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
