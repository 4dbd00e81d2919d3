"""Mid-session failover for a relayed session: what the relay must know to open the session
again on the next route, and what the client is told when it does.

The relay notes the session as it passes: every `session.update` the client sent (merged, as
the client wrote them, before any voice was mapped), and the conversation as the provider
confirmed it (items added, input audio transcripts, each `response.done`'s output). On the next
route that session is replayed as one `session.update` and one `conversation.item.create` per
item, audio turns carried as their transcripts (a route cannot take another's audio items).
The provider's answers to the replay are the relay's own and do not reach the client.

The client's socket stays open; it gets one `voxgate.session.moved` event (see
docs/architecture.md, "Mid-session failover").
"""

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from voxgate.gateway.realtime.dialect import as_object
from voxgate.gateway.realtime.wire import ClientGone, event_id, is_closed
from voxgate.gateway.realtime.work import SessionOver

MOVED = "voxgate.session.moved"
# How long the events a client sent just before it left may take to reach the upstream (their
# holds are database writes); the session ends after.
CLIENT_LEFT_DRAIN_SECONDS = 5.0
Reason = Literal["upstream_closed", "server_error", "stalled"]
_ITEM_ACKS = frozenset(
    {"conversation.item.created", "conversation.item.added", "conversation.item.done"}
)


@dataclass(frozen=True)
class FailoverTerms:
    """Whether a lost upstream moves the session, how long a response may go without an
    upstream event before the upstream counts as stalled, and what becomes of a response that
    was under way: re-created on the next route, or reported failed."""

    enabled: bool = True
    stall_seconds: float = 15.0
    recreate: bool = True


class UpstreamLost(Exception):
    """The upstream socket closed abnormally, sent a server_error, or stalled mid-response."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass
class SessionReplay:
    """The session as the next route must be given it."""

    beta: bool
    session: dict[str, Any] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Item ids replayed on the current upstream whose acknowledgements the client never sees.
    replayed: set[str] = field(default_factory=set)
    # Items the client sent that the provider has not confirmed yet, in order.
    unconfirmed: list[dict[str, Any]] = field(default_factory=list)

    def client_update(self, session: dict[str, Any]) -> None:
        """A session.update the client sent, as it wrote it."""
        _merge(self.session, copy.deepcopy(session))

    def owed_updates(self, count: int) -> list[dict[str, Any]]:
        """What answers the client's `count` updates a lost upstream never answered: the
        session's settings, once for each (their answers are the client's)."""
        return [
            {"type": "session.update", "session": copy.deepcopy(self.session)} for _ in range(count)
        ]

    def client_item(self, item: dict[str, Any]) -> None:
        """An item the client sent: replayed as sent until the provider confirms it."""
        self.unconfirmed.append(copy.deepcopy(item))

    def upstream_event(self, event: dict[str, Any]) -> None:
        """Note what an upstream event says about the conversation."""
        kind = event.get("type")
        if kind in ("conversation.item.created", "conversation.item.added"):
            item = as_object(event.get("item"))
            self._confirm(item)
            if isinstance(item.get("id"), str):
                self.items.setdefault(item["id"], copy.deepcopy(item))
        elif kind == "conversation.item.deleted":
            self.items.pop(str(event.get("item_id")), None)
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._heard(str(event.get("item_id")), str(event.get("transcript") or ""))
        elif kind == "response.done":
            for item in as_object(event.get("response")).get("output") or []:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    self.items[item["id"]] = copy.deepcopy(item)

    def hides(self, event: dict[str, Any] | None) -> bool:
        """Whether an upstream event answers the replay (the client never asked for it)."""
        if event is None or event.get("type") not in _ITEM_ACKS:
            return False
        item_id = as_object(event.get("item")).get("id")
        if item_id not in self.replayed:
            return False
        if event.get("type") != "conversation.item.added":  # .added is followed by .done
            self.replayed.discard(item_id)
        return True

    def events(self) -> list[dict[str, Any]]:
        """The replay: the session's settings, then each item the next route can take."""
        replay: list[dict[str, Any]] = []
        if self.session:
            replay.append({"type": "session.update", "session": copy.deepcopy(self.session)})
        self.replayed = set()
        for item_id, item in self.items.items():
            carried = self._carried(item)
            if carried is not None:
                self.replayed.add(item_id)
                replay.append({"type": "conversation.item.create", "item": carried})
        # What the client sent and never saw confirmed: its acknowledgements are the client's.
        for item in self.unconfirmed:
            carried = self._carried(item)
            if carried is not None:
                replay.append({"type": "conversation.item.create", "item": carried})
        return replay

    def _confirm(self, given: dict[str, Any]) -> None:
        """The provider confirmed an item: the first the client sent that it matches (by id,
        or by type, role and text) is in the conversation now."""
        for index, sent in enumerate(self.unconfirmed):
            if _matches(sent, given):
                del self.unconfirmed[index]
                return

    def _heard(self, item_id: str, transcript: str) -> None:
        for part in self.items.get(item_id, {}).get("content") or []:
            if isinstance(part, dict) and part.get("type") == "input_audio":
                part["transcript"] = transcript

    def _carried(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """An item as the next route takes it: audio as its transcript; None when nothing of
        it can be carried (audio never transcribed)."""
        kept = {k: v for k, v in item.items() if k not in ("object", "status")}
        if item.get("type", "message") != "message":
            return kept
        assistant = item.get("role") == "assistant"
        text_type = ("text" if self.beta else "output_text") if assistant else "input_text"
        content = []
        for part in item.get("content") or []:
            text = _part_text(as_object(part))
            if text:
                content.append({"type": text_type, "text": text})
        return kept | {"content": content} if content else None


def _matches(sent: dict[str, Any], given: dict[str, Any]) -> bool:
    if "id" in sent:
        return bool(sent["id"] == given.get("id"))
    return _shape(sent) == _shape(given)


def _shape(item: dict[str, Any]) -> tuple[object, object, list[str]]:
    texts = [_part_text(as_object(part)) for part in item.get("content") or []]
    return item.get("type", "message"), item.get("role"), texts


def _part_text(part: dict[str, Any]) -> str:
    for name in ("text", "transcript"):
        value = part.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for name, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(name), dict):
            _merge(into[name], value)
        else:
            into[name] = value


def moved_event(
    reason: Reason,
    moved_from: tuple[str, str],
    moved_to: tuple[str, str],
    responses: list[dict[str, str]],
) -> dict[str, Any]:
    """The one event that tells the client its session moved: why, from which route to which
    (provider and route label), and what became of each response that was under way."""
    return {
        "type": MOVED,
        "event_id": event_id(),
        "reason": reason,
        "from": {"provider": moved_from[0], "route": moved_from[1]},
        "to": {"provider": moved_to[0], "route": moved_to[1]},
        "responses": responses,
    }


def failed_done(response_id: str, reason: Reason) -> dict[str, Any]:
    """A response the lost upstream never finished, closed for the client as failed."""
    return {
        "type": "response.done",
        "event_id": event_id(),
        "response": {
            "id": response_id,
            "object": "realtime.response",
            "status": "failed",
            "status_details": {
                "type": "failed",
                "error": {"type": "server_error", "code": "session_moved", "message": reason},
            },
            "output": [],
            "usage": None,
        },
    }


async def until_lost(reader: "asyncio.Future[None]", pumping: Any) -> UpstreamLost | None:
    """Run the upstream's direction beside the client's (which outlives one upstream) until
    either ends: how the upstream was lost, or None when a side closed.

    A client that left is noticed first by whichever direction touches its socket first. When
    that is the upstream's (an event it could not pass on), the client's direction still
    carries what the client sent before it left (a response.create, say) to the upstream, as
    the provider would have taken it, for up to CLIENT_LEFT_DRAIN_SECONDS."""
    pump = asyncio.ensure_future(pumping)
    try:
        done, _ = await asyncio.wait({reader, pump}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
    for task in done:
        error = None if task.cancelled() else task.exception()
        if isinstance(error, UpstreamLost) and task is pump:
            return error
        if error is not None and not is_closed(error):
            raise error
    if pump in done and not pump.cancelled() and isinstance(pump.exception(), ClientGone):
        await asyncio.wait({reader}, timeout=CLIENT_LEFT_DRAIN_SECONDS)
    return None


def over(lost: UpstreamLost) -> SessionOver:
    """A lost upstream with nowhere to move: the session ends, saying how it was lost."""
    return SessionOver(
        f"The realtime provider {lost.detail}.", code="upstream_closed", kind="server_error"
    )
