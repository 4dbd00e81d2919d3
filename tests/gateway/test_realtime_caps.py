"""Budgets inside realtime sessions, in process: the projection at the row's prices, both
policies past a cap, the caps a request may ask for, and the spend limits read per response."""

import base64
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
import pytest
from opentelemetry.trace import NoOpTracerProvider

from tests.billing.accounts import KEY_ID, funded
from voxgate.billing.holds import Holds
from voxgate.billing.pricing import Metered
from voxgate.catalog.loader import load_catalog
from voxgate.catalog.schema import ModelRow
from voxgate.errors import InvalidRequestError
from voxgate.gateway.charge import Charges
from voxgate.gateway.realtime.caps import (
    CapExceeded,
    RelayedTurns,
    SessionBudget,
    SessionCaps,
    Turn,
    Verdict,
    judge,
    projected,
    session_caps,
)
from voxgate.gateway.realtime.dialect import GA
from voxgate.gateway.realtime.held import ConversationBound
from voxgate.gateway.realtime.wire import ClientChannel
from voxgate.gateway.realtime.work import SessionOver
from voxgate.gateway.session_charge import SessionCharge
from voxgate.metrics import Metrics
from voxgate.settings import Settings
from voxgate.store.budgets import UTC_CLOCK, BudgetLimits, BudgetStore
from voxgate.store.database import Database
from voxgate.store.keys import Principal
from voxgate.types import MicroUSD


def row(model: str) -> ModelRow:
    found = load_catalog(Settings().catalog_dir).get(model)
    assert found is not None
    return found


AUDIO_ROW = row("gpt-audio-1.5")
LOCAL_ROW = row("local-realtime")


def micro(price_per_1m: Decimal | None, tokens: int) -> Decimal:
    """A per-1M-token price times tokens, in micro-USD (a price per 1M is micro-USD a token)."""
    return (price_per_1m or Decimal(0)) * tokens


def expected(model: ModelRow, text_in: int, audio_in: int, output: int) -> int:
    """The projection as this test reads the row: input at its input prices, the output cap
    at the dearest output price, rounded once, half up."""
    pricing = model.pricing
    text_out = pricing.text_output_per_1m_tokens or Decimal(0)
    dearest = max(text_out, pricing.audio_output_per_1m_tokens or text_out)
    audio_price = pricing.audio_input_per_1m_tokens or pricing.text_input_per_1m_tokens
    total = (
        micro(pricing.text_input_per_1m_tokens, text_in)
        + micro(audio_price, audio_in)
        + dearest * output
    )
    return int(total + Decimal("0.5"))


def turns(*sizes: int) -> list[Turn]:
    return [
        Turn(f"item_{index}", Metered(input_text_tokens=size, requests=0))
        for index, size in enumerate(sizes)
    ]


def conversation(items: list[Turn], extra: int = 0) -> Metered:
    return Metered(input_text_tokens=extra + sum(t.given.input_text_tokens for t in items))


def judged(
    caps: SessionCaps, items: list[Turn], *, output_tokens: int, session_spent: int
) -> Verdict:
    """The verdict on a response reading just `items`, at the audio model's prices."""
    return judge(
        caps,
        AUDIO_ROW.pricing,
        given=conversation(items),
        turns=items,
        output_tokens=output_tokens,
        session_spent=session_spent,
    )


def test_the_projection_is_the_conversation_at_input_prices_and_the_cap_at_output_prices() -> None:
    given = Metered(input_text_tokens=1_234, input_audio_tokens=567, requests=0)
    assert projected(AUDIO_ROW.pricing, given, 4096) == expected(AUDIO_ROW, 1_234, 567, 4096)
    assert projected(LOCAL_ROW.pricing, given, 256) == expected(LOCAL_ROW, 1_234, 567, 256)


def test_refuse_names_the_response_cap_and_then_the_session_cap() -> None:
    items = turns(1_000, 1_000)
    cost = expected(AUDIO_ROW, 2_000, 0, 100)
    caps = SessionCaps(response=MicroUSD(cost - 1))
    with pytest.raises(CapExceeded) as refused:
        judged(caps, items, output_tokens=100, session_spent=0)
    assert (refused.value.code, refused.value.param) == (
        "response_budget_exceeded",
        "max_response_cost_usd",
    )
    caps = SessionCaps(session=MicroUSD(cost + 10))
    fits = judged(caps, items, output_tokens=100, session_spent=10)
    assert fits.dropped == () and fits.cost == cost
    with pytest.raises(CapExceeded) as refused:
        judged(caps, items, output_tokens=100, session_spent=11)
    assert (refused.value.code, refused.value.param) == (
        "session_budget_exceeded",
        "max_session_cost_usd",
    )


def test_trim_drops_the_oldest_turns_until_the_projection_fits() -> None:
    items = turns(3_000, 2_000, 1_000, 500)
    given = conversation(items, extra=100)
    # Room for the instructions, the last two turns and the output cap, not for more.
    room = expected(AUDIO_ROW, 100 + 1_000 + 500, 0, 50)
    caps = SessionCaps(response=MicroUSD(room), policy="trim")
    verdict = judge(
        caps, AUDIO_ROW.pricing, given=given, turns=items, output_tokens=50, session_spent=0
    )
    assert verdict.dropped == ("item_0", "item_1")
    assert verdict.cost == room


def test_trim_never_drops_the_newest_turn_and_refuses_what_cannot_fit() -> None:
    items = turns(1_000, 2_000)
    caps = SessionCaps(response=MicroUSD(expected(AUDIO_ROW, 1_999, 0, 10)), policy="trim")
    with pytest.raises(CapExceeded) as refused:
        judged(caps, items, output_tokens=10, session_spent=0)
    assert refused.value.code == "response_budget_exceeded"


def test_a_request_may_lower_a_cap_never_raise_it() -> None:
    key = SessionCaps(session=MicroUSD(50_000), response=None, policy="refuse")
    lowered = key.lowered(
        {"max_session_cost_usd": 0.02, "max_response_cost_usd": "0.005", "cap_policy": "trim"},
        "session.voxgate.",
    )
    assert lowered == SessionCaps(MicroUSD(20_000), MicroUSD(5_000), "trim")
    with pytest.raises(InvalidRequestError) as raised:
        key.lowered({"max_session_cost_usd": "0.06"}, "session.voxgate.")
    assert raised.value.param == "session.voxgate.max_session_cost_usd"


@pytest.mark.parametrize(
    ("asked", "param"),
    [
        ({"max_session_cost_usd": -1}, "max_session_cost_usd"),
        ({"max_session_cost_usd": "0.0000001"}, "max_session_cost_usd"),
        ({"max_response_cost_usd": "a lot"}, "max_response_cost_usd"),
        ({"max_response_cost_usd": True}, "max_response_cost_usd"),
        ({"max_response_cost_usd": "NaN"}, "max_response_cost_usd"),
        ({"cap_policy": "shrug"}, "cap_policy"),
        ({"max_cost": 1}, "max_cost"),
    ],
)
def test_a_bad_cap_is_refused_naming_its_field(asked: Mapping[str, object], param: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        SessionCaps().lowered(asked, "session.voxgate.")
    assert refused.value.param == f"session.voxgate.{param}"


def test_a_session_starts_from_its_keys_caps_lowered_by_its_url() -> None:
    principal = Principal("ws", "key", "k", None, None, None, 40_000, 9_000, "trim")
    caps = session_caps(principal, {"model": "gpt-audio-1.5"}, "refuse")
    assert caps == SessionCaps(MicroUSD(40_000), MicroUSD(9_000), "trim")
    url = {"model": "x", "max_response_cost_usd": "0.001", "cap_policy": "refuse"}
    assert session_caps(principal, url, "trim") == SessionCaps(
        MicroUSD(40_000), MicroUSD(1_000), "refuse"
    )
    with pytest.raises(InvalidRequestError) as refused:
        session_caps(principal, {"max_response_cost_usd": "0.01"}, "refuse")
    assert refused.value.param == "max_response_cost_usd"
    plain = Principal("ws", "key", "k")
    assert session_caps(plain, {}, "trim") == SessionCaps(policy="trim")


def test_relayed_items_are_known_by_what_each_added() -> None:
    items, bound = RelayedTurns(), ConversationBound()
    # Three seconds of 24 kHz PCM16: 10 input tokens a second, as OpenAI counts them.
    append = {
        "type": "input_audio_buffer.append",
        "audio": base64.b64encode(bytes(144_000)).decode(),
    }
    items.client_event(bound, append, "")
    heard = Metered(input_audio_tokens=30, requests=0)
    items.upstream_event({"type": "input_audio_buffer.committed", "item_id": "item_a"})
    create = {"type": "conversation.item.create", "item": {"type": "message"}}
    text = json.dumps(create)
    items.client_event(bound, create, text)
    typed = Metered(input_text_tokens=len(text), requests=0)  # a token is at least a byte
    items.upstream_event(
        {"type": "conversation.item.added", "item": {"id": "item_b", "role": "user"}}
    )
    done = {"type": "response.done", "response": {"output": [{"id": "item_c"}]}}
    items.upstream_event(done, Metered(output_text_tokens=5, output_audio_tokens=40))
    assert [turn.item_id for turn in items.ordered()] == ["item_a", "item_b", "item_c"]
    assert items.turns["item_c"] == Metered(input_text_tokens=5, input_audio_tokens=40, requests=0)
    assert items.dropped(["item_a"]) == heard
    deleted = items.upstream_event({"type": "conversation.item.deleted", "item_id": "item_b"})
    assert deleted == typed
    assert [turn.item_id for turn in items.ordered()] == ["item_c"]
    assert bound.given({}) == Metered(
        input_text_tokens=len(text), input_audio_tokens=30, requests=0
    )


class Recorded:
    """A client socket that keeps what the gateway sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> Mapping[str, Any]:
        raise AssertionError("nothing is read here")

    async def send_text(self, data: str) -> None:
        self.sent.append(orjson.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        return None


async def opened_charge(database: Database, workspace_id: str) -> SessionCharge:
    tracer = NoOpTracerProvider().get_tracer("test")
    opener = Charges(Holds(database), 60, Metrics(), tracer, lambda row, route: row.pricing)
    charge = SessionCharge(
        opener, opener.trace(Principal(workspace_id, KEY_ID, "test"), "req_caps")
    )
    charge.identify(AUDIO_ROW, "realtime")
    await charge.open_session(MicroUSD(10_000), "openai", "openai/gpt-audio-1.5")
    return charge


async def test_a_spend_budget_made_mid_session_caps_the_next_response_or_ends_the_session(
    database: Database,
) -> None:
    workspace_id = await funded(database, 1_000_000)
    charge = await opened_charge(database, workspace_id)
    budget = SessionBudget(SessionCaps(), charge)
    socket = Recorded()
    channel = ClientChannel(socket, GA)
    items = turns(1_000)
    ask = {"given": conversation(items), "turns": items, "output_tokens": 1_000}
    first = await budget.admit(channel, AUDIO_ROW.pricing, **ask)  # type: ignore[arg-type]
    assert (first.cost, first.output_tokens) == (expected(AUDIO_ROW, 1_000, 0, 1_000), 1_000)
    # A daily budget made now, counted in no hold of this session: its room is its limit,
    # and the response's output is capped to the tokens that fit it.
    budgets = BudgetStore(database, UTC_CLOCK)
    limits = BudgetLimits(spend_limit_micro_usd=first.cost - 1)
    await budgets.create(workspace_id, "day", limits, key_id=KEY_ID)
    capped = await budget.admit(channel, AUDIO_ROW.pricing, **ask)  # type: ignore[arg-type]
    assert capped.output_tokens == 999
    assert capped.cost == expected(AUDIO_ROW, 1_000, 0, 999) <= first.cost - 1
    # One that leaves less than the input and one output token ends the session, naming it.
    input_only = expected(AUDIO_ROW, 1_000, 0, 0)
    limits = BudgetLimits(spend_limit_micro_usd=input_only)
    await budgets.create(workspace_id, "month", limits)
    with pytest.raises(SessionOver) as over:
        await budget.admit(channel, AUDIO_ROW.pricing, **ask)  # type: ignore[arg-type]
    assert over.value.code == "monthly_spend_budget_exceeded"
    assert socket.sent == []  # plenty of credit: no credit-low event
    await charge.close_session()


async def test_the_session_is_told_once_when_its_credit_covers_under_two_responses(
    database: Database,
) -> None:
    items = turns(1_000)
    cost = expected(AUDIO_ROW, 1_000, 0, 1_000)
    credit = 2 * cost - 1  # not quite two responses (and more than the session's first step)
    workspace_id = await funded(database, credit)
    charge = await opened_charge(database, workspace_id)
    socket = Recorded()
    budget = SessionBudget(SessionCaps(), charge)
    ask = {"given": conversation(items), "turns": items, "output_tokens": 1_000}
    await budget.admit(ClientChannel(socket, GA), AUDIO_ROW.pricing, **ask)  # type: ignore[arg-type]
    await budget.admit(ClientChannel(socket, GA), AUDIO_ROW.pricing, **ask)  # type: ignore[arg-type]
    [event] = socket.sent
    assert event["type"] == "voxgate.session.credit_low"
    assert event["available_micro_usd"] == credit
    assert event["next_response_micro_usd"] == cost
    assert event["responses_left"] == 1
    await charge.close_session()


def test_a_relayed_sessions_caps_go_on_to_its_last_hop() -> None:
    caps = SessionCaps(MicroUSD(120_000), MicroUSD(7), "trim")
    update = caps.update()
    assert update["type"] == "session.update"
    assert SessionCaps().asked_in(update["session"]["voxgate"]) == caps
    assert SessionCaps().asked_in(SessionCaps().update()["session"]["voxgate"]) == SessionCaps()
