"""Budgets inside a realtime session: a cap on what the whole session may cost and one on what
each response may cost, from the key's limits, lowered (never raised) by the session itself.

Each response re-reads the conversation, so its cost climbs with every turn. Before a response
runs, its projected cost is checked: the conversation as the gateway bounds it at the row's
input prices, plus the response's output cap at the row's dearest output price. A projection
past what is left of the session cap, or past the response cap, applies the session's policy:
`refuse` answers an `error` event naming the cap and the response does not run; `trim` drops
the oldest turns (never the newest) until it fits, then runs; one that cannot fit even so is
refused. The key's and workspace's spend limits are read again before each response as well.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

from voxgate.billing.pricing import Metered, cost
from voxgate.catalog.schema import Pricing
from voxgate.errors import InvalidRequestError
from voxgate.gateway.realtime.held import ConversationBound
from voxgate.gateway.realtime.wire import ClientChannel
from voxgate.gateway.realtime.work import SessionOver
from voxgate.gateway.session_charge import SessionCharge
from voxgate.money import MICRO, format_usd
from voxgate.store.keys import Principal
from voxgate.types import MicroUSD

CapPolicy = Literal["trim", "refuse"]
POLICIES: tuple[CapPolicy, ...] = ("trim", "refuse")
# The names a request (URL or `session.update`'s `voxgate` object) and a key use for them.
SESSION_CAP = "max_session_cost_usd"
RESPONSE_CAP = "max_response_cost_usd"
POLICY = "cap_policy"
FIELDS = frozenset({SESSION_CAP, RESPONSE_CAP, POLICY})
# Where a session.update carries the gateway's own settings; the provider never sees it.
GATEWAY_FIELD = "voxgate"
# A cap is money: at most six decimals, and inside the database's 64-bit micro-dollars.
MAX_CAP_USD = Decimal(1_000_000_000)
# The credit-low rule: the session is told once its wallet covers fewer than this many
# next responses (as projected).
CREDIT_LOW_RESPONSES = 2
NOTHING = Metered(requests=0)


class CapExceeded(InvalidRequestError):
    """A response refused by a cap: the error event names the cap in `param`."""


@dataclass(frozen=True)
class SessionCaps:
    """A session's caps in micro-USD (None: no cap) and what to do past one."""

    session: MicroUSD | None = None
    response: MicroUSD | None = None
    policy: CapPolicy = "refuse"

    def lowered(self, asked: Mapping[str, object], where: str) -> "SessionCaps":
        """These caps as a request asks them (`where` prefixes the field an error names): a
        cap may only come down; InvalidRequestError names a bad or raised one."""
        unknown = sorted(set(asked) - FIELDS)
        if unknown:
            raise InvalidRequestError(
                f"{where}{unknown[0]} is not a session cap; the caps are "
                f"{', '.join(sorted(FIELDS))}.",
                param=f"{where}{unknown[0]}",
            )
        caps = self
        for name in (SESSION_CAP, RESPONSE_CAP):
            if asked.get(name) is None:
                continue
            wanted = usd_to_micro(asked[name], f"{where}{name}")
            current = caps.session if name == SESSION_CAP else caps.response
            if current is not None and wanted > current:
                raise InvalidRequestError(
                    f"{where}{name} may only lower this key's cap of ${format_usd(current)}.",
                    param=f"{where}{name}",
                )
            if name == SESSION_CAP:
                caps = replace(caps, session=wanted)
            else:
                caps = replace(caps, response=wanted)
        if asked.get(POLICY) is not None:
            caps = replace(caps, policy=policy_of(asked[POLICY], f"{where}{POLICY}"))
        return caps

    def update(self) -> dict[str, Any]:
        """The session.update that sets these caps on a session served here (the last hop
        of a relayed session, which starts with none)."""
        asked: dict[str, object] = {POLICY: self.policy}
        for name, cap in ((SESSION_CAP, self.session), (RESPONSE_CAP, self.response)):
            if cap is not None:
                asked[name] = format_usd(cap)
        return {"type": "session.update", "session": {GATEWAY_FIELD: asked}}

    def asked_in(self, asked: object) -> "SessionCaps":
        """`lowered` by the value of a session's `voxgate` object."""
        where = f"session.{GATEWAY_FIELD}"
        if not isinstance(asked, dict):
            raise InvalidRequestError(f"{where} must be an object.", param=where)
        return self.lowered(asked, f"{where}.")


def session_caps(
    principal: Principal, url: Mapping[str, str], default_policy: CapPolicy
) -> SessionCaps:
    """A new session's caps: its key's, lowered by the caps its URL names (the URL's other
    parameters are not caps); InvalidRequestError naming a bad one."""
    policy = cast(CapPolicy, principal.cap_policy) if principal.cap_policy else default_policy
    caps = SessionCaps(
        _micro_or_none(principal.max_session_cost_micro_usd),
        _micro_or_none(principal.max_response_cost_micro_usd),
        policy,
    )
    return caps.lowered({name: url[name] for name in FIELDS if name in url}, "")


def check_minted(principal: Principal, session: Mapping[str, object]) -> None:
    """Refuse a minted session whose caps (under `voxgate`) are bad or above its key's, naming
    the field; the session applies them when it is opened."""
    if GATEWAY_FIELD in session:
        session_caps(principal, {}, "refuse").asked_in(session[GATEWAY_FIELD])


def _micro_or_none(value: int | None) -> MicroUSD | None:
    return None if value is None else MicroUSD(value)


def usd_to_micro(value: object, param: str) -> MicroUSD:
    """A dollar amount as a request writes it (a JSON number or a decimal string), exactly in
    micro-USD; InvalidRequestError naming `param` for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRequestError(f"{param} must be an amount in US dollars.", param=param)
    try:
        amount = Decimal(str(value))  # a float's shortest repr is the number the client wrote
    except InvalidOperation as exc:
        raise InvalidRequestError(f"{param} must be an amount in US dollars.", param=param) from exc
    if not amount.is_finite() or amount < 0 or amount > MAX_CAP_USD:
        raise InvalidRequestError(
            f"{param} must be between 0 and {MAX_CAP_USD} US dollars.", param=param
        )
    micro = amount * MICRO
    if micro != micro.to_integral_value():
        raise InvalidRequestError(f"{param} has more than six decimals.", param=param)
    return MicroUSD(int(micro))


def policy_of(value: object, param: str) -> CapPolicy:
    if value not in POLICIES:
        raise InvalidRequestError(f"{param} must be trim or refuse.", param=param)
    return "trim" if value == "trim" else "refuse"


def projected(pricing: Pricing, given: Metered, output_tokens: int) -> MicroUSD:
    """What a response costs at most: what it reads at the row's input prices, and its
    output cap at the dearest output price (audio falls back to the text rate)."""
    text = pricing.text_output_per_1m_tokens or Decimal(0)
    audio = pricing.audio_output_per_1m_tokens or text
    output = (
        {"output_audio_tokens": output_tokens}
        if audio > text
        else {"output_text_tokens": output_tokens}
    )
    return cost(pricing, replace(given, **output))


@dataclass(frozen=True)
class Turn:
    """An item of the conversation as a response reads it: its id and what it adds."""

    item_id: str
    given: Metered


@dataclass(frozen=True)
class Verdict:
    """What a response may do: run after dropping `dropped` (oldest first), at `cost` at
    most, with at most `output_tokens` of output."""

    dropped: tuple[str, ...]
    cost: MicroUSD
    output_tokens: int = 0


def judge(
    caps: SessionCaps,
    pricing: Pricing,
    *,
    given: Metered,
    turns: Sequence[Turn],
    output_tokens: int,
    session_spent: int,
) -> Verdict:
    """Check a response's projection against the caps (the session's less what it has
    spent, `session_spent`): the turns to drop first under `trim`, or CapExceeded naming the
    cap. `given` is the whole conversation, `turns` the items in it that may be dropped,
    oldest first."""
    first = projected(pricing, given, output_tokens)
    exceeded = _exceeded(caps, first, session_spent)
    if exceeded is None:
        return Verdict((), first, output_tokens)
    if caps.policy == "trim":
        left, dropped = given, []
        for turn in turns[:-1]:  # the newest turn is what the response answers
            left = _less(left, turn.given)
            dropped.append(turn.item_id)
            trimmed = projected(pricing, left, output_tokens)
            if _exceeded(caps, trimmed, session_spent) is None:
                return Verdict(tuple(dropped), trimmed, output_tokens)
    raise exceeded


def _exceeded(caps: SessionCaps, projection: MicroUSD, spent: int) -> CapExceeded | None:
    if caps.response is not None and projection > caps.response:
        return CapExceeded(
            f"This response could cost ${format_usd(projection)}, past the response cap of "
            f"${format_usd(caps.response)} ({RESPONSE_CAP}).",
            param=RESPONSE_CAP,
            code="response_budget_exceeded",
        )
    if caps.session is not None and spent + projection > caps.session:
        left = MicroUSD(max(0, caps.session - spent))
        return CapExceeded(
            f"This response could cost ${format_usd(projection)}; the session cap of "
            f"${format_usd(caps.session)} ({SESSION_CAP}) has ${format_usd(left)} left.",
            param=SESSION_CAP,
            code="session_budget_exceeded",
        )
    return None


def _affordable(
    pricing: Pricing, given: Metered, output_tokens: int, room: tuple[MicroUSD, str]
) -> int:
    """The most output tokens, up to `output_tokens`, whose projection fits the room a spend
    limit leaves; SessionOver naming the limit when not even one does (the key or workspace
    may spend no more: the session ends as when its credit runs out)."""
    left, code = room
    text = pricing.text_output_per_1m_tokens or Decimal(0)
    per_token = max(text, pricing.audio_output_per_1m_tokens or text)
    tokens = output_tokens
    if per_token > 0:
        tokens = min(tokens, int((left - projected(pricing, given, 0)) / per_token))
    while tokens > 1 and projected(pricing, given, tokens) > left:  # rounded once, up
        tokens -= 1
    if tokens < 1 or projected(pricing, given, tokens) > left:
        raise SessionOver(
            f"A spend limit of this key or workspace leaves ${format_usd(MicroUSD(max(0, left)))}"
            ", less than the next response's input and one output token. The realtime session "
            "is closed.",
            code=code,
        )
    return tokens


def _less(given: Metered, turn: Metered) -> Metered:
    return replace(
        given,
        input_text_tokens=max(0, given.input_text_tokens - turn.input_text_tokens),
        input_audio_tokens=max(0, given.input_audio_tokens - turn.input_audio_tokens),
    )


def credit_low(available: int, projection: MicroUSD) -> dict[str, object] | None:
    """The `voxgate.session.credit_low` event when the credit left covers fewer than
    CREDIT_LOW_RESPONSES responses like the next one; None while it covers more."""
    if projection <= 0 or available >= projection * CREDIT_LOW_RESPONSES:
        return None
    return {
        "type": "voxgate.session.credit_low",
        "available_micro_usd": max(0, available),
        "available_usd": format_usd(MicroUSD(max(0, available))),
        "next_response_micro_usd": projection,
        "responses_left": max(0, available) // projection,
    }


@dataclass
class SessionBudget:
    """One session's caps against its Charge: what each response may cost before it runs."""

    caps: SessionCaps
    charge: SessionCharge
    # Whether the session was told its credit runs low (it is told once).
    warned: bool = False

    def session_update(self, session: object) -> bool:
        """Take the gateway's own settings out of a session.update's `session` (the provider
        never sees them) and lower the caps by them; True when there were some."""
        if not isinstance(session, dict) or GATEWAY_FIELD not in session:
            return False
        self.caps = self.caps.asked_in(session.pop(GATEWAY_FIELD))
        return True

    def check_update(self, session: object) -> None:
        """session_update's refusal (InvalidRequestError), changing nothing."""
        if isinstance(session, dict):
            replace(self).session_update(dict(session))

    async def admit(
        self,
        channel: ClientChannel,
        pricing: Pricing,
        *,
        given: Metered,
        turns: Sequence[Turn],
        output_tokens: int,
    ) -> Verdict:
        """A response's verdict under the spend limits as they are now (its output capped to
        what they leave) and under the caps, and the credit-low event when the credit covers
        fewer than two more like it. CapExceeded when a cap refuses it; SessionOver naming the
        limit when a spend limit leaves not even its input and one output token."""
        room = await self.charge.spend_room()
        if room is not None:
            output_tokens = _affordable(pricing, given, output_tokens, room)
        verdict = judge(
            self.caps,
            pricing,
            given=given,
            turns=turns,
            output_tokens=output_tokens,
            session_spent=self.charge.charged + self.charge.reserved,
        )
        if not self.warned:
            available = await self.charge.drawable()
            event = credit_low(available, verdict.cost)
            if event is not None:
                self.warned = True
                await channel.send(event)
        return verdict


@dataclass
class RelayedTurns:
    """What each item of a relayed conversation adds to what a response reads, by item id,
    oldest first: the items a `trim` may delete upstream. Audio appended waits for the commit
    that names its item; an item the client creates without an id is named by the provider's
    echo of it; an answer adds the output its `response.done` reported."""

    turns: dict[str, Metered] = field(default_factory=dict)
    buffered: Metered = field(default_factory=lambda: Metered(requests=0))
    unnamed: list[Metered] = field(default_factory=list)

    def client_event(self, bound: ConversationBound, event: dict[str, Any], text: str) -> None:
        """Count a client event sent upstream (as `text`) in the conversation's bound, and
        what it added there to the item it makes."""
        before = bound.given({})
        bound.client_event(event, text)
        after = bound.given({})
        added = Metered(
            input_text_tokens=max(0, after.input_text_tokens - before.input_text_tokens),
            input_audio_tokens=after.input_audio_tokens - before.input_audio_tokens,
            requests=0,
        )
        kind = event.get("type")
        if kind == "input_audio_buffer.append":
            self.buffered = _plus(self.buffered, added)
        elif kind == "input_audio_buffer.clear":
            self.buffered = Metered(requests=0)
        elif kind == "conversation.item.create":
            item = event.get("item")
            item_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(item_id, str):
                self.turns[item_id] = added
            else:
                self.unnamed.append(added)

    def upstream_event(self, event: dict[str, Any], answered: Metered | None = None) -> Metered:
        """A provider event that names an item (`answered` is a response.done's output); what
        an item deleted by the client took from the conversation."""
        kind = event.get("type")
        if kind == "input_audio_buffer.committed":
            self.turns[str(event.get("item_id"))] = self.buffered
            self.buffered = Metered(requests=0)
        elif kind in ("conversation.item.created", "conversation.item.added"):
            item = event.get("item")
            item = item if isinstance(item, dict) else {}
            item_id = item.get("id")
            theirs = item.get("role") != "assistant" and self.unnamed
            if isinstance(item_id, str) and item_id not in self.turns and theirs:
                self.turns[item_id] = self.unnamed.pop(0)
        elif kind == "conversation.item.deleted":
            return self.turns.pop(str(event.get("item_id")), NOTHING)
        elif kind == "response.done" and answered is not None:
            response = event.get("response")
            output = response.get("output") if isinstance(response, dict) else None
            ids = [i.get("id") for i in output or [] if isinstance(i, dict)]
            if ids and isinstance(ids[0], str):
                self.turns[ids[0]] = Metered(
                    input_text_tokens=answered.output_text_tokens,
                    input_audio_tokens=answered.output_audio_tokens,
                    requests=0,
                )
        return NOTHING

    def ordered(self) -> list[Turn]:
        return [Turn(item_id, given) for item_id, given in self.turns.items()]

    def dropped(self, item_ids: Sequence[str]) -> Metered:
        """Forget the items a trim deletes: what they added, together."""
        total = Metered(requests=0)
        for item_id in item_ids:
            total = _plus(total, self.turns.pop(item_id, Metered(requests=0)))
        return total


@dataclass
class LocalGate:
    """The caps of a session served here: each response reads the conversation's texts (a
    user's audio as its transcript) and speaks at most its output cap."""

    budget: SessionBudget
    pricing: Pricing
    count: Callable[[str], int]
    output_tokens: int
    characters_per_token: int
    # Caps the next chat answer's output (to what a spend limit leaves).
    cap_next: Callable[[int], None] = lambda tokens: None

    def session_update(self, session: object) -> None:
        self.budget.session_update(session)

    async def admit(
        self,
        channel: ClientChannel,
        texts: Sequence[tuple[str, str]],
        instructions: str,
        spoken: bool,
    ) -> tuple[str, ...]:
        """The ids of the items to drop before the response runs (`texts` are the items the
        chat reads, oldest first); CapExceeded or InsufficientCreditError when it may not."""
        turns = [
            Turn(item_id, Metered(input_text_tokens=self.count(text), requests=0))
            for item_id, text in texts
        ]
        given = Metered(input_text_tokens=self.count(instructions) if instructions else 0)
        for turn in turns:
            given = _plus(given, turn.given)
        if spoken:
            given = replace(given, input_characters=self.output_tokens * self.characters_per_token)
        verdict = await self.budget.admit(
            channel,
            self.pricing,
            given=replace(given, requests=0),
            turns=turns,
            output_tokens=self.output_tokens,
        )
        self.cap_next(verdict.output_tokens)
        return verdict.dropped


def _plus(left: Metered, right: Metered) -> Metered:
    return replace(
        left,
        input_text_tokens=left.input_text_tokens + right.input_text_tokens,
        input_audio_tokens=left.input_audio_tokens + right.input_audio_tokens,
    )
