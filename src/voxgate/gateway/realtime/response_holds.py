"""A relayed session's responses, from their asking to their charge.

Before a `response.create` is forwarded, the session's hold grows by that response's worst case
(the conversation so far, as the gateway bounds it, plus its output tokens), and the response is
capped to the output the credit holds; one the credit cannot cover, or past the session's caps,
gets an `error` event and never reaches the provider. A response the provider started by itself
is held when created, or cancelled. Each `response.done` is charged from its usage, from what
the response held; one the provider never accounts for is charged from what passed.
"""

import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from voxgate.billing.pricing import Metered
from voxgate.errors import InsufficientCreditError
from voxgate.gateway.realtime.caps import CapExceeded, RelayedTurns, SessionBudget
from voxgate.gateway.realtime.dialect import as_object
from voxgate.gateway.realtime.held import (
    ConversationBound,
    HeldResponse,
    delta_size,
    wanted_output,
)
from voxgate.gateway.realtime.relay_events import AUDIO_DELTAS
from voxgate.gateway.realtime.wire import ClientChannel, credit_refusal, error_event
from voxgate.gateway.realtime.work import SessionOver
from voxgate.gateway.session_charge import SessionCharge
from voxgate.providers.protocols import RealtimeSocket
from voxgate.types import MicroUSD

logger = logging.getLogger(__name__)


@dataclass
class ResponseHolds:
    """A relayed session's responses under way, each with its hold."""

    channel: ClientChannel
    charge: SessionCharge
    conversation: ConversationBound
    budget: SessionBudget
    items: RelayedTurns
    # Responses held and forwarded that the provider has not created yet, in order; then the
    # ones it created and has not yet closed with their response.done.
    _pending: deque[HeldResponse] = field(default_factory=deque, init=False)
    _open: dict[str, HeldResponse] = field(default_factory=dict, init=False)
    # When the latest response was asked for (the stall watch counts from it).
    asked_at: float = field(default=0.0, init=False)

    @property
    def under_way(self) -> bool:
        """Whether a response is held and not yet closed."""
        return bool(self._pending or self._open)

    def unfinished(self) -> list[tuple[str | None, HeldResponse]]:
        """The responses under way: their id once created, their hold."""
        return [*self._open.items(), *((None, held) for held in self._pending)]

    def open_ids(self) -> list[str]:
        """The ids of the responses the provider created and has not closed."""
        return list(self._open)

    async def held_create(self, event: dict[str, Any], upstream: Any) -> str | None:
        """Hold the response's worst case and cap its output to it: the event to forward, or
        None (and an error event to the client) when the credit cannot hold it. Items `trim`
        drops are deleted on `upstream`."""
        response = as_object(event.get("response"))
        wanted = wanted_output(response, self.conversation.session_cap)
        try:
            wanted = await self._within_caps(response, wanted, upstream)
            held = await self._hold(self.conversation.given(response), wanted)
        except CapExceeded as exc:
            await self.channel.send(
                error_event(
                    exc.message,
                    code=exc.code or "budget_exceeded",
                    param=exc.param,
                    client_event_id=event.get("event_id"),
                )
            )
            return None
        except InsufficientCreditError as exc:
            await self.channel.send(credit_refusal(exc, event.get("event_id")))
            return None
        held.asked = response
        self._pending.append(held)
        self.asked_at = time.monotonic()
        cap = "max_response_output_tokens" if self.channel.dialect.beta else "max_output_tokens"
        return orjson.dumps(event | {"response": response | {cap: held.output_cap}}).decode()

    async def _within_caps(self, response: dict[str, Any], wanted: int, upstream: Any) -> int:
        """Check the response against the session's caps and spend limits (its output cap,
        lowered to what the limits leave, is returned); under `trim`, delete the oldest items
        upstream first (the provider confirms each to the client)."""
        verdict = await self.budget.admit(
            self.channel,
            self.charge.session_pricing,
            given=self.conversation.given(response),
            turns=self.items.ordered(),
            output_tokens=wanted,
        )
        for item_id in verdict.dropped:
            delete = {"type": "conversation.item.delete", "item_id": item_id}
            await upstream.send(orjson.dumps(delete).decode())
        self.conversation.forget(self.items.dropped(verdict.dropped))
        return verdict.output_tokens

    async def _hold(self, given: Metered, wanted: int) -> HeldResponse:
        cap, worst = await self.charge.reserve_response(given, wanted)
        return HeldResponse(given, cap, worst)

    async def created(self, response_id: str, upstream: Any) -> None:
        """A response the client asked for takes its hold; one the provider started itself
        (server VAD) is held now, or cancelled when the credit cannot hold it."""
        if self._pending:
            self._open[response_id] = self._pending.popleft()
            return
        given = self.conversation.given({})
        try:
            self._open[response_id] = await self._hold(given, self.conversation.session_cap)
        except InsufficientCreditError as exc:
            cancel = {"type": "response.cancel", "response_id": response_id}
            await upstream.send(orjson.dumps(cancel).decode())
            self._open[response_id] = HeldResponse(given, 0, MicroUSD(0))
            await self.channel.send(credit_refusal(exc))

    def passed(self, event: dict[str, Any]) -> None:
        """Count a delta's output against its response (what it is charged from if lost)."""
        held = self._open.get(str(event.get("response_id")))
        if held is None:
            return
        if event.get("type") in AUDIO_DELTAS:
            held.audio_bytes += delta_size(event)
        else:
            held.text_bytes += len(str(event.get("delta") or "").encode())

    async def done(self, response_id: str, usage: Metered, overrun: Metered | None) -> None:
        """Charge a response.done from its usage, freeing what the response held; `overrun` is
        what the provider made past the cap it was given."""
        held = self._open.pop(response_id, None)
        self.conversation.response_done(usage)
        reserved = held.worst if held else 0
        await self.charge.draw(usage, "response.done", reserved=reserved, overrun=overrun)

    async def charge_passed(self, upstream: RealtimeSocket) -> None:
        """Charge the responses still under way from what passed: their provider will never
        report them."""
        unreported = [*self._open.values(), *self._pending]
        self._open.clear()
        self._pending.clear()
        if not unreported:
            return
        logger.warning(
            "%d realtime response(s) under way were not reported by the provider (upstream "
            "closed with %s): charged from what passed",
            len(unreported),
            upstream.close_code,
        )
        rate = self.conversation.output_bytes_per_second
        for held in unreported:
            with contextlib.suppress(SessionOver):
                await self.charge.draw(
                    held.passed(rate), "response.partial", reserved=held.worst, status="partial"
                )
