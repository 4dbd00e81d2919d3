"""A realtime session's Charge on a real database: each piece drawn as it is done, within the
hold, one step held ahead, the hold kept alive by the process's one keeper, the rest released
at close, and the session's end when it must; a refused session leaves its record."""

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from opentelemetry.trace import NoOpTracerProvider
from sqlalchemy import select

from tests.billing.accounts import KEY_ID, funded, key_counters
from voxgate.billing.holds import Holds
from voxgate.billing.ledger import Ledger
from voxgate.billing.pricing import Metered, cost
from voxgate.catalog.loader import load_catalog
from voxgate.errors import InsufficientCreditError
from voxgate.gateway.charge import Charges
from voxgate.gateway.realtime.dialect import GA
from voxgate.gateway.realtime.session import run_session
from voxgate.gateway.realtime.wire import ClientChannel
from voxgate.gateway.realtime.work import SessionOver
from voxgate.gateway.session_charge import SessionCharge
from voxgate.metrics import Metrics
from voxgate.settings import Settings
from voxgate.store.database import Database
from voxgate.store.keys import Principal
from voxgate.store.tables import Hold, Usage, utcnow
from voxgate.types import MicroUSD

STEP = MicroUSD(10_000)
ROUTE = "openai/gpt-audio-1.5"
ROW = load_catalog(Settings().catalog_dir).get("gpt-audio-1.5")
# 1,000 input and 1,000 output tokens at $2.50 / $10.00 per 1M: 12,500 micro-USD, past a step.
BIG = Metered(input_text_tokens=1_000, output_text_tokens=1_000, requests=0)
SMALL = Metered(input_text_tokens=100, output_text_tokens=100, requests=0)


def charges(database: Database, hold_ttl_seconds: int = 60) -> Charges:
    tracer = NoOpTracerProvider().get_tracer("test")
    return Charges(
        Holds(database), hold_ttl_seconds, Metrics(), tracer, lambda row, route: row.pricing
    )


def session_charge(opener: Charges, workspace_id: str) -> SessionCharge:
    assert ROW is not None
    principal = Principal(workspace_id, KEY_ID, "test", None, None, None)
    charge = SessionCharge(opener, opener.trace(principal, "req_session"))
    charge.identify(ROW, "realtime")
    return charge


async def opened(
    database: Database, workspace_id: str, hold_ttl_seconds: int = 60
) -> SessionCharge:
    charge = session_charge(charges(database, hold_ttl_seconds), workspace_id)
    await charge.open_session(STEP, "openai", ROUTE)
    return charge


async def held_and_drawn(charge: SessionCharge, metered: Metered) -> MicroUSD:
    """A piece of work as a session runs it: its cost held first, then drawn."""
    assert ROW is not None
    worst = cost(ROW.pricing, metered)
    await charge.reserve(worst)
    return await charge.draw(metered, "response.done", reserved=worst)


async def records(database: Database) -> dict[str, dict[str, Any]]:
    async with database.reading() as connection:
        rows = (await connection.execute(select(Usage))).mappings().all()
    return {row["request_id"]: dict(row) for row in rows}


async def hold_expiry(database: Database) -> datetime:
    """When the one hold of the test expires unless it is kept."""
    async with database.reading() as connection:
        return (await connection.execute(select(Hold.expires_at))).scalar_one()


async def held(database: Database, workspace_id: str) -> tuple[int, int]:
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None
    return wallet.balance_micro_usd, wallet.held_micro_usd


async def test_each_piece_is_drawn_as_it_is_done_and_one_step_stays_held(
    database: Database,
) -> None:
    workspace_id = await funded(database, 1_000_000)
    charge = await opened(database, workspace_id)
    assert ROW is not None
    charged = [await held_and_drawn(charge, metered) for metered in (SMALL, BIG, SMALL)]
    assert charged == [cost(ROW.pricing, m) for m in (SMALL, BIG, SMALL)]
    assert charge.charged == sum(charged)
    assert await held(database, workspace_id) == (1_000_000 - sum(charged), STEP)
    await charge.close_session()
    assert await held(database, workspace_id) == (1_000_000 - sum(charged), 0)
    assert await key_counters(database) == (sum(charged), 0)
    assert await Ledger(database).ledger_sum(workspace_id) == 1_000_000 - sum(charged)


async def test_each_piece_has_a_record_and_a_line_of_its_own(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    charge = await opened(database, workspace_id)
    await held_and_drawn(charge, SMALL)
    charge.serving("azure-openai", "azure-openai/gpt-audio-1.5")  # a failover moved it
    await charge.draw(BIG, "response.partial", status="partial")
    await charge.close_session()
    stored = await records(database)
    session, first, second = (stored[f"req_session{n}"] for n in ("", ".1", ".2"))
    assert [line["piece"] for line in session["lines"]] == ["response.done", "response.partial"]
    assert [line["request_id"] for line in session["lines"]] == ["req_session.1", "req_session.2"]
    assert session["attempts"] == [] and session["charged_micro_usd"] == 0
    assert (session["status"], session["http_status"], session["task"]) == (
        "succeeded",
        101,
        "realtime",
    )
    assert (first["route"], first["status"], first["input_text_tokens"]) == (
        ROUTE,
        "succeeded",
        100,
    )
    assert (second["provider"], second["status"]) == ("azure-openai", "partial")
    assert [line["piece"] for line in second["lines"]] == ["response.partial"]
    # Drawn without a reservation: never past what the hold held.
    assert second["charged_micro_usd"] <= second["hold_micro_usd"]


async def test_a_step_that_cannot_be_held_ends_the_session_after_charging(
    database: Database,
) -> None:
    workspace_id = await funded(database, 15_000)
    charge = await opened(database, workspace_id)
    with pytest.raises(SessionOver) as over:
        await held_and_drawn(charge, BIG)
    assert over.value.code == "insufficient_credit"
    await charge.close_session()
    assert await held(database, workspace_id) == (2_500, 0)


async def test_the_keeper_keeps_the_session_hold_past_its_lifetime(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    holds = Holds(database)
    lifetime = timedelta(seconds=1)
    opener = charges(database, hold_ttl_seconds=int(lifetime.total_seconds()))
    charge = session_charge(opener, workspace_id)
    await charge.open_session(STEP, "openai", ROUTE)
    first_expiry = await hold_expiry(database)
    with charge.kept():
        # The reaper runs until a beat comes two lifetimes after the hold was placed (its expiry
        # then a beat plus a lifetime on): kept through twice its lifetime by the beats alone.
        async with asyncio.timeout(10):
            while await hold_expiry(database) <= first_expiry + 2 * lifetime:
                assert await holds.reap_expired() == 0
                await asyncio.sleep(0.1)
        assert await holds.reap_expired() == 0
    assert await holds.open_count() == 1
    await charge.close_session()
    await opener.aclose()
    assert await holds.open_count() == 0


async def test_a_hold_reaped_under_a_stalled_session_is_held_again(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    holds = Holds(database)
    charge = await opened(database, workspace_id, hold_ttl_seconds=1)
    # As if the process had stalled past the hold's lifetime: the reaper releases it. The work
    # done under it is still charged, from free credit, but no more than it held.
    assert await holds.reap_expired(utcnow() + timedelta(seconds=5)) == 1
    drawn = await charge.draw(BIG, "response.done")
    assert ROW is not None and drawn == STEP < cost(ROW.pricing, BIG)
    assert await holds.open_count() == 1
    await charge.close_session()
    assert await held(database, workspace_id) == (1_000_000 - drawn, 0)


async def test_a_piece_reserved_after_the_hold_was_reaped_holds_afresh(
    database: Database,
) -> None:
    workspace_id = await funded(database, 1_000_000)
    holds = Holds(database)
    charge = await opened(database, workspace_id, hold_ttl_seconds=1)
    assert await holds.reap_expired(utcnow() + timedelta(seconds=5)) == 1
    assert await held_and_drawn(charge, SMALL) > 0
    assert await holds.open_count() == 1
    await charge.close_session()
    assert (await held(database, workspace_id))[1] == 0


async def test_a_response_is_held_before_it_runs_and_capped_to_the_credit(
    database: Database,
) -> None:
    workspace_id = await funded(database, 20_000)
    charge = await opened(database, workspace_id)
    given = Metered(input_text_tokens=1_000, requests=0)  # 2,500 micro-USD
    cap, worst = await charge.reserve_response(given, 4096)
    # $10 per 1M output tokens: the 17,500 left after the input holds 1,750 tokens, not 4,096.
    assert (cap, worst) == (1_750, 20_000)
    assert await held(database, workspace_id) == (20_000, 20_000)
    with pytest.raises(InsufficientCreditError):  # nothing is left for a second response
        await charge.reserve_response(given, 4096)
    whole = Metered(input_text_tokens=1_000, output_text_tokens=1_750, requests=0)
    with pytest.raises(SessionOver):  # charged in full, then no step is left to hold
        await charge.draw(whole, "response.done", reserved=worst)
    await charge.close_session()
    assert await held(database, workspace_id) == (0, 0)


async def test_a_response_whose_input_alone_is_past_the_credit_holds_nothing(
    database: Database,
) -> None:
    workspace_id = await funded(database, 10_000)
    charge = await opened(database, workspace_id)
    with pytest.raises(InsufficientCreditError):
        await charge.reserve_response(Metered(input_text_tokens=4_000, requests=0), 4096)
    assert charge.held == STEP
    await charge.close_session()
    assert await held(database, workspace_id) == (10_000, 0)


async def test_what_a_failed_piece_reserved_stays_held_as_the_step_ahead(
    database: Database,
) -> None:
    workspace_id = await funded(database, 1_000_000)
    charge = await opened(database, workspace_id)
    assert ROW is not None
    worst = cost(ROW.pricing, BIG)
    await charge.reserve(worst)
    assert charge.held == worst  # the step beside it is not held until a piece is drawn
    await charge.unreserve(worst)
    small = await held_and_drawn(charge, SMALL)  # drawn from what the failed piece left held
    assert await held(database, workspace_id) == (1_000_000 - small, worst - small)
    await charge.close_session()


async def test_a_session_refused_for_credit_leaves_a_rejected_record(database: Database) -> None:
    workspace_id = await funded(database, 5_000)
    charge = session_charge(charges(database), workspace_id)
    with pytest.raises(InsufficientCreditError) as refused:
        await charge.open_session(STEP, "openai", ROUTE)
    await charge.refuse(refused.value)
    record = (await records(database))["req_session"]
    assert (record["model"], record["task"], record["status"]) == (
        "gpt-audio-1.5",
        "realtime",
        "rejected",
    )
    assert (record["http_status"], record["error_code"]) == (402, "insufficient_credit")
    assert await held(database, workspace_id) == (5_000, 0)


class Socket:
    """A client socket that never speaks and records what it is sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str | None] | None = None

    async def receive(self) -> Mapping[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send_text(self, data: str) -> None:
        self.sent.append(orjson.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


async def test_a_session_ends_at_its_length_cap_and_releases_its_hold(
    database: Database,
) -> None:
    workspace_id = await funded(database, 1_000_000)
    charge = await opened(database, workspace_id)
    socket = Socket()

    async def key_is_live() -> bool:
        return True

    await asyncio.wait_for(
        run_session(
            ClientChannel(socket, GA), charge, asyncio.Event().wait(), key_is_live, 60, 0.3
        ),
        timeout=10,
    )
    assert [event["error"]["code"] for event in socket.sent] == ["session_expired"]
    assert socket.closed == (1000, "session_expired")
    assert await held(database, workspace_id) == (1_000_000, 0)


async def test_the_hold_grows_a_step_past_what_is_due_or_just_what_is_due(
    database: Database,
) -> None:
    """The one hold-ahead rule, which streams and sessions share."""
    workspace_id = await funded(database, 30_000)
    charge = session_charge(charges(database), workspace_id)
    await charge.cover(MicroUSD(10_000))
    await charge.hold_ahead(MicroUSD(20_000), MicroUSD(15_000))  # a step ahead: affordable
    assert charge.held == 20_000
    await charge.hold_ahead(MicroUSD(40_000), MicroUSD(25_000))  # the step is not: just what is due
    assert charge.held == 25_000
    with pytest.raises(InsufficientCreditError):  # not even what is due: nothing changes
        await charge.hold_ahead(MicroUSD(50_000), MicroUSD(35_000))
    assert charge.held == 25_000
    assert await held(database, workspace_id) == (30_000, 25_000)
    await charge.release(RuntimeError("done"))
    assert await held(database, workspace_id) == (30_000, 0)
