"""The last hop of a relayed session: the realtime protocol served here (`local-realtime`, a
cascade row), where a realtime row names one in `realtime_last_hop` and every route of its own
was lost mid-session.

The session is replayed to the local conversation as client events (its settings, then its
items, audio turns as their transcripts) whose answers the client never sees (its
`session.created` and the acknowledgements), but for an `error` naming what the local hop
could not take. What the move owes the client comes next, answered to it: its settings once
for each update the lost route left unanswered, then the responses re-created there.
"""

from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from voxgate.catalog.schema import ModelRow
from voxgate.errors import GatewayError
from voxgate.gateway.realtime.local import LocalWork, serve_locally
from voxgate.gateway.realtime.session_gateway import SessionGateway
from voxgate.gateway.realtime.wire import ClientChannel
from voxgate.gateway.session_charge import SessionCharge
from voxgate.routing.planner import PlannedAttempt

# Serves the session on the last hop: the client's channel, the replay, what the move owes.
Serve = Callable[
    [ClientChannel, list[dict[str, Any]], list[dict[str, Any]]], Coroutine[Any, Any, None]
]


@dataclass(frozen=True)
class LastHop:
    provider: str
    route: str
    row: ModelRow
    serve: Serve


def last_hop(
    gateway: SessionGateway, row: ModelRow, charge: SessionCharge, max_buffer_seconds: float
) -> LastHop | None:
    """The row's last hop, when it names one whose chat route can be planned now."""
    last = gateway.catalog.get(row.realtime_last_hop) if row.realtime_last_hop else None
    if last is None:
        return None
    try:
        chats = gateway.planner.plan(last, gateway.providers.chat)
    except GatewayError:
        return None
    serve = partial(_serve, gateway, last, chats, charge, max_buffer_seconds)
    return LastHop(chats[0].route.provider, chats[0].label, last, serve)


async def _serve(
    gateway: SessionGateway,
    row: ModelRow,
    chats: list[PlannedAttempt[Any]],
    charge: SessionCharge,
    max_buffer_seconds: float,
    channel: ClientChannel,
    replay: list[dict[str, Any]],
    owed: list[dict[str, Any]],
) -> None:
    work = LocalWork(row, gateway.legs(row), chats, charge, gateway.attempts)
    replaying = ReplayingChannel(channel, replay, owed)
    await serve_locally(replaying, work, row, {}, max_buffer_seconds=max_buffer_seconds)


class ReplayingChannel(ClientChannel):
    """The client's channel as the local conversation reads it: the replay first (its answers
    kept from the client, but for errors), then what the move owes it, then the client."""

    def __init__(
        self,
        channel: ClientChannel,
        replay: list[dict[str, Any]],
        owed: list[dict[str, Any]],
    ) -> None:  # the client's own channel does the work: no socket of its own
        self._channel = channel
        self.dialect = channel.dialect
        self.stats = channel.stats
        self._replay = deque(replay)
        self._owed = deque(owed)
        # Until the conversation asks for the event after the replay, what it sends answers
        # the replay (it handles one event at a time).
        self._quiet = True

    async def next_message(self) -> tuple[dict[str, Any], str]:
        if not self._replay:
            self._quiet = False
        queue = self._replay or self._owed
        if queue:
            event = queue.popleft()
            return event, orjson.dumps(event).decode()
        return await self._channel.next_message()

    async def send(self, event: dict[str, Any]) -> None:
        if self._quiet and event.get("type") != "error":
            return
        await self._channel.send(event)

    async def send_raw(self, text: str, event: dict[str, Any] | None = None) -> None:
        await self._channel.send_raw(text, event)

    async def close(self, code: int, reason: str) -> None:
        await self._channel.close(code, reason)
