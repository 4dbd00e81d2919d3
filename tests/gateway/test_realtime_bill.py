"""A realtime session's bill on a real database: each piece charged as it is done, one step
held ahead, the hold kept alive past its lifetime, and the session's end when it must."""

import asyncio
import time
from datetime import timedelta

import pytest

from tests.billing.accounts import KEY_ID, funded, key_counters
from voxgate.billing.holds import Holds
from voxgate.billing.ledger import Ledger
from voxgate.billing.pricing import Metered, cost
from voxgate.catalog.loader import load_catalog
from voxgate.errors import InsufficientCreditError
from voxgate.gateway.realtime.bill import BillTerms, SessionBill
from voxgate.gateway.realtime.work import SessionOver
from voxgate.settings import Settings
from voxgate.store.database import Database
from voxgate.store.keys import Principal
from voxgate.store.tables import utcnow
from voxgate.types import MicroUSD

STEP = MicroUSD(10_000)
ROW = load_catalog(Settings().catalog_dir).get("gpt-audio-1.5")
# 1,000 input and 1,000 output tokens at $2.50 / $10.00 per 1M: 12,500 micro-USD, past a step.
BIG = Metered(text_input_tokens=1_000, text_output_tokens=1_000, requests=0)


def bill(database: Database, workspace_id: str, **terms: float) -> SessionBill:
    assert ROW is not None
    options = {"step": STEP, "hold_ttl_seconds": 60, "max_session_seconds": 3600.0} | terms
    return SessionBill(
        Holds(database),
        ROW,
        Principal(workspace_id, KEY_ID, "test", None, None, None),
        "req_session",
        BillTerms(**options),  # type: ignore[arg-type]
        provider="openai",
        route="openai/gpt-audio-1.5",
    )


async def held_and_charged(session: SessionBill, metered: Metered) -> MicroUSD:
    """A piece of work as a session runs it: its cost held first, then charged."""
    assert ROW is not None
    worst = cost(ROW.pricing, metered)
    await session.reserve(worst)
    return await session.charge(metered, "response.done", reserved=worst)


async def test_each_piece_is_charged_as_it_is_done_and_one_step_stays_held(
    database: Database,
) -> None:
    workspace_id = await funded(database, 1_000_000)
    session = bill(database, workspace_id)
    await session.open()
    assert ROW is not None
    small = Metered(text_input_tokens=100, text_output_tokens=100, requests=0)
    charged = [await held_and_charged(session, metered) for metered in (small, BIG, small)]
    assert charged == [cost(ROW.pricing, m) for m in (small, BIG, small)]
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None
    assert wallet.balance_micro_usd == 1_000_000 - sum(charged)
    assert wallet.held_micro_usd == STEP  # the next step, no more
    await session.close()
    assert await key_counters(database) == (sum(charged), 0)
    ledger = Ledger(database)
    assert await ledger.ledger_sum(workspace_id) == 1_000_000 - sum(charged)


async def test_a_step_that_cannot_be_held_ends_the_session_after_charging(
    database: Database,
) -> None:
    workspace_id = await funded(database, 15_000)
    session = bill(database, workspace_id)
    await session.open()
    with pytest.raises(SessionOver) as over:
        await held_and_charged(session, BIG)
    assert over.value.code == "insufficient_credit"
    await session.close()
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None and (wallet.balance_micro_usd, wallet.held_micro_usd) == (2_500, 0)


async def test_the_heartbeat_keeps_the_hold_past_its_lifetime(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    holds = Holds(database)
    session = bill(database, workspace_id, hold_ttl_seconds=1)
    await session.open()
    beating = asyncio.create_task(session.heartbeat())
    try:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:  # the reaper runs through two and a half lifetimes
            assert await holds.reap_expired() == 0
            await asyncio.sleep(0.1)
    finally:
        beating.cancel()
    assert await holds.open_count() == 1
    await session.close()


async def test_a_session_ends_at_its_length_cap(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    session = bill(database, workspace_id, max_session_seconds=0.3)
    await session.open()
    with pytest.raises(SessionOver) as over:
        await asyncio.wait_for(session.heartbeat(), timeout=10)
    assert over.value.code == "session_expired"
    await session.close()


async def test_a_hold_reaped_under_a_stalled_session_is_held_again(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    holds = Holds(database)
    session = bill(database, workspace_id, hold_ttl_seconds=1)
    await session.open()
    first = session.hold_id
    # As if the process had stalled past the hold's lifetime: the reaper releases it. The work
    # done under it is still charged, from free credit, but no more than it held.
    assert await holds.reap_expired(utcnow() + timedelta(seconds=5)) == 1
    charged = await session.charge(BIG, "response.done")
    assert charged == STEP < cost(ROW.pricing, BIG)
    assert session.hold_id != first and await holds.open_count() == 1
    await session.close()
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None
    assert (wallet.balance_micro_usd, wallet.held_micro_usd) == (1_000_000 - charged, 0)


async def test_a_response_is_held_before_it_runs_and_capped_to_the_credit(
    database: Database,
) -> None:
    workspace_id = await funded(database, 20_000)
    session = bill(database, workspace_id)
    await session.open()
    given = Metered(text_input_tokens=1_000, requests=0)  # 2,500 micro-USD
    cap, worst = await session.reserve_response(given, 4096)
    # $10 per 1M output tokens: the 17,500 left after the input holds 1,750 tokens, not 4,096.
    assert (cap, worst) == (1_750, 20_000)
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None and wallet.held_micro_usd == 20_000
    with pytest.raises(InsufficientCreditError):  # nothing is left for a second response
        await session.reserve_response(given, 4096)
    whole = Metered(text_input_tokens=1_000, text_output_tokens=1_750, requests=0)
    with pytest.raises(SessionOver):  # charged in full, then no step is left to hold
        await session.charge(whole, "response.done", reserved=worst)
    await session.close()
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None and (wallet.balance_micro_usd, wallet.held_micro_usd) == (0, 0)


async def test_a_response_whose_input_alone_is_past_the_credit_holds_nothing(
    database: Database,
) -> None:
    workspace_id = await funded(database, 10_000)
    session = bill(database, workspace_id)
    await session.open()
    with pytest.raises(InsufficientCreditError):
        await session.reserve_response(Metered(text_input_tokens=4_000, requests=0), 4096)
    assert (session.remaining, session.reserved) == (STEP, 0)
    await session.close()
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None and (wallet.balance_micro_usd, wallet.held_micro_usd) == (10_000, 0)
