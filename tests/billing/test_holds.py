import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.billing.accounts import KEY_ID, funded, key_counters
from voxgate.billing.holds import Holds
from voxgate.billing.ledger import Ledger
from voxgate.billing.usage import UsageRecord
from voxgate.errors import InsufficientCreditError
from voxgate.store.database import Database
from voxgate.store.tables import Usage as UsageRow
from voxgate.store.tables import utcnow
from voxgate.types import MicroUSD


def usage(request_id: str, workspace_id: str) -> UsageRecord:
    return UsageRecord(
        request_id=request_id,
        workspace_id=workspace_id,
        key_id=KEY_ID,
        model="m",
        task="tts",
        status="succeeded",
        http_status=200,
        latency_ms=1,
    )


async def assert_books_balance(database: Database, workspace_id: str) -> None:
    ledger = Ledger(database)
    wallet = await ledger.wallet(workspace_id)
    assert wallet is not None
    assert await ledger.ledger_sum(workspace_id) == wallet.balance_micro_usd
    assert 0 <= wallet.held_micro_usd <= wallet.balance_micro_usd


async def place(holds: Holds, workspace_id: str, amount: int, request_id: str = "req_1") -> str:
    return await holds.place(
        workspace_id=workspace_id,
        key_id=KEY_ID,
        request_id=request_id,
        amount=MicroUSD(amount),
        ttl_seconds=60,
    )


async def test_settle_charges_the_cost_and_frees_the_rest(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    holds = Holds(database)
    hold_id = await place(holds, workspace_id, 10_000)
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None and wallet.available_micro_usd == 990_000
    assert await holds.settle(hold_id, MicroUSD(2_345), usage("req_1", workspace_id)) == 2_345
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None
    assert (wallet.balance_micro_usd, wallet.held_micro_usd) == (997_655, 0)
    assert await key_counters(database) == (2_345, 0)
    await assert_books_balance(database, workspace_id)


async def test_a_key_spend_limit_caps_what_it_can_hold(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000, spend_limit=25_000)
    holds = Holds(database)
    first = await place(holds, workspace_id, 20_000, "req_1")
    with pytest.raises(InsufficientCreditError) as caught:
        await place(holds, workspace_id, 10_000, "req_2")
    assert caught.value.code == "key_spend_limit_reached"
    await holds.settle(first, MicroUSD(15_000), usage("req_1", workspace_id))
    await place(holds, workspace_id, 10_000, "req_3")
    with pytest.raises(InsufficientCreditError):
        await place(holds, workspace_id, 1, "req_4")
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None and wallet.held_micro_usd == 10_000


async def test_settling_twice_concurrently_charges_once(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    holds = Holds(database)
    hold_id = await place(holds, workspace_id, 10_000)
    record = usage("req_1", workspace_id)
    charged = await asyncio.gather(
        holds.settle(hold_id, MicroUSD(5_000), record),
        holds.settle(hold_id, MicroUSD(5_000), record),
        holds.release(hold_id, record),
    )
    assert sorted(c or 0 for c in charged) in ([0, 0, 0], [0, 0, 5_000])
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None and wallet.held_micro_usd == 0
    assert wallet.balance_micro_usd in (1_000_000, 995_000)
    await assert_books_balance(database, workspace_id)


async def recorded(database: Database, request_id: str) -> tuple[int, int, int, bool]:
    """A usage record's (cost, charged, held) micro-USD and its provider_overrun flag."""
    async with database.reading() as connection:
        row = (
            await connection.execute(
                select(
                    UsageRow.cost_micro_usd,
                    UsageRow.charged_micro_usd,
                    UsageRow.hold_micro_usd,
                    UsageRow.provider_overrun,
                ).where(UsageRow.request_id == request_id)
            )
        ).one()
    return row[0], row[1], row[2], bool(row[3])


async def test_a_cost_past_the_hold_is_charged_the_hold_and_flagged(database: Database) -> None:
    # The free credit is there, and still not taken: a hold is a hard cap.
    workspace_id = await funded(database, 100_000)
    holds = Holds(database)
    hold_id = await place(holds, workspace_id, 10_000)
    assert await holds.settle(hold_id, MicroUSD(15_000), usage("req_1", workspace_id)) == 10_000
    assert await recorded(database, "req_1") == (10_000, 10_000, 10_000, True)
    assert await key_counters(database) == (10_000, 0)
    await assert_books_balance(database, workspace_id)


async def test_a_cost_within_the_hold_is_not_flagged(database: Database) -> None:
    workspace_id = await funded(database, 20_000)
    holds = Holds(database)
    hold_id = await place(holds, workspace_id, 10_000)
    assert await holds.settle(hold_id, MicroUSD(10_000), usage("req_1", workspace_id)) == 10_000
    assert await recorded(database, "req_1") == (10_000, 10_000, 10_000, False)
    await assert_books_balance(database, workspace_id)


async def test_a_kept_alive_hold_outlives_its_first_lifetime(database: Database) -> None:
    workspace_id = await funded(database, 100_000)
    holds = Holds(database)
    hold_id = await place(holds, workspace_id, 10_000)
    assert await holds.keep_alive(hold_id, ttl_seconds=600)
    assert await holds.reap_expired(utcnow() + timedelta(minutes=5)) == 0
    assert await holds.settle(hold_id, MicroUSD(4_000), usage("req_1", workspace_id)) == 4_000
    assert not await holds.keep_alive(hold_id, ttl_seconds=600)
    await assert_books_balance(database, workspace_id)


async def test_work_whose_hold_was_reaped_is_still_charged_once(database: Database) -> None:
    workspace_id = await funded(database, 100_000)
    holds = Holds(database)
    hold_id = await place(holds, workspace_id, 10_000)
    assert await holds.reap_expired(utcnow() + timedelta(minutes=5)) == 1
    record = usage("req_1", workspace_id)
    assert await holds.settle(hold_id, MicroUSD(7_000), record) == 7_000
    assert await holds.settle(hold_id, MicroUSD(7_000), record) == 0
    assert await recorded(database, "req_1") == (7_000, 7_000, 10_000, False)
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None
    assert (wallet.balance_micro_usd, wallet.held_micro_usd) == (93_000, 0)
    await assert_books_balance(database, workspace_id)


async def test_draws_charge_as_they_go_and_keep_the_hold_open(database: Database) -> None:
    workspace_id = await funded(database, 100_000)
    holds = Holds(database)
    hold_id = await place(holds, workspace_id, 10_000)
    assert await holds.draw(hold_id, MicroUSD(3_000), usage("req_1.1", workspace_id)) == 3_000
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None
    assert (wallet.balance_micro_usd, wallet.held_micro_usd) == (97_000, 7_000)
    # Past what is still held: charged what is left (never from free credit), flagged, and
    # the hold stays open to grow again.
    assert await holds.draw(hold_id, MicroUSD(12_000), usage("req_1.2", workspace_id)) == 7_000
    assert await recorded(database, "req_1.2") == (7_000, 7_000, 7_000, True)
    await holds.extend(hold_id, MicroUSD(10_000))
    assert await key_counters(database) == (10_000, 10_000)
    assert await holds.settle(hold_id, MicroUSD(0), usage("req_1", workspace_id)) == 0
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None
    assert (wallet.balance_micro_usd, wallet.held_micro_usd) == (90_000, 0)
    await assert_books_balance(database, workspace_id)


async def test_a_reaped_holds_work_is_charged_no_more_than_it_held(database: Database) -> None:
    workspace_id = await funded(database, 100_000)
    holds = Holds(database)
    hold_id = await place(holds, workspace_id, 10_000)
    assert await holds.reap_expired(utcnow() + timedelta(minutes=5)) == 1
    assert await holds.settle(hold_id, MicroUSD(25_000), usage("req_1", workspace_id)) == 10_000
    assert await recorded(database, "req_1") == (10_000, 10_000, 10_000, True)
    await assert_books_balance(database, workspace_id)


async def test_a_draw_on_a_closed_hold_charges_nothing(database: Database) -> None:
    workspace_id = await funded(database, 100_000)
    holds = Holds(database)
    hold_id = await place(holds, workspace_id, 10_000)
    assert await holds.settle(hold_id, MicroUSD(0), usage("req_1", workspace_id)) == 0
    assert await holds.draw(hold_id, MicroUSD(3_000), usage("req_1.1", workspace_id)) == 0
    assert await recorded(database, "req_1.1") == (0, 0, 0, True)
    await assert_books_balance(database, workspace_id)


async def test_a_closed_hold_cannot_grow(database: Database) -> None:
    workspace_id = await funded(database, 100_000)
    holds = Holds(database)
    hold_id = await place(holds, workspace_id, 10_000)
    await holds.release(hold_id, usage("req_1", workspace_id))
    with pytest.raises(InsufficientCreditError):
        await holds.extend(hold_id, MicroUSD(10_000))
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None and wallet.held_micro_usd == 0


async def test_release_returns_everything(database: Database) -> None:
    workspace_id = await funded(database, 50_000)
    holds = Holds(database)
    hold_id = await place(holds, workspace_id, 50_000)
    await holds.release(hold_id, usage("req_1", workspace_id))
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None
    assert (wallet.balance_micro_usd, wallet.held_micro_usd) == (50_000, 0)


async def test_insufficient_credit_changes_nothing(database: Database) -> None:
    workspace_id = await funded(database, 9_999)
    holds = Holds(database)
    with pytest.raises(InsufficientCreditError) as caught:
        await place(holds, workspace_id, 10_000)
    assert caught.value.status_code == 402
    assert "0.010000" in caught.value.message and "0.009999" in caught.value.message
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None and wallet.held_micro_usd == 0


async def test_concurrent_holds_never_overspend(database: Database) -> None:
    fundable = 7
    workspace_id = await funded(database, fundable * 10_000)
    holds = Holds(database)
    results = await asyncio.gather(
        *(place(holds, workspace_id, 10_000, f"req_{i}") for i in range(fundable * 10)),
        return_exceptions=True,
    )
    placed = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, InsufficientCreditError)]
    assert (len(placed), len(refused)) == (fundable, fundable * 9)
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None and wallet.held_micro_usd == wallet.balance_micro_usd


async def test_reapers_release_expired_holds_once(database: Database) -> None:
    workspace_id = await funded(database, 100_000)
    holds = Holds(database)
    for i in range(3):
        await place(holds, workspace_id, 10_000, f"req_{i}")
    later = utcnow() + timedelta(minutes=5)
    released = await asyncio.gather(holds.reap_expired(later), holds.reap_expired(later))
    assert sum(released) == 3
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None
    assert (wallet.balance_micro_usd, wallet.held_micro_usd) == (100_000, 0)
    assert await holds.reap_expired(later) == 0


async def test_a_request_id_seen_twice_is_charged_and_recorded_twice(database: Database) -> None:
    # A load balancer's X-Request-ID, retried on another gateway, reaches settlement twice.
    workspace_id = await funded(database, 100_000)
    holds = Holds(database)
    first = await place(holds, workspace_id, 10_000, "lb-abc-123")
    second = await place(holds, workspace_id, 10_000, "lb-abc-123")
    assert await holds.settle(first, MicroUSD(1_000), usage("lb-abc-123", workspace_id)) == 1_000
    assert await holds.settle(second, MicroUSD(2_000), usage("lb-abc-123", workspace_id)) == 2_000
    async with database.reading() as connection:
        ids = (await connection.execute(select(UsageRow.request_id))).scalars().all()
    assert len(ids) == 2 and "lb-abc-123" in ids
    assert all(request_id.startswith("lb-abc-123") for request_id in ids)
    await assert_books_balance(database, workspace_id)


async def test_holds_kept_alive_together_outlive_their_lifetime_and_closed_ones_stay_closed(
    database: Database,
) -> None:
    workspace_id = await funded(database, 100_000)
    holds = Holds(database)
    live = [await place(holds, workspace_id, 1_000, f"req_{n}") for n in range(3)]
    settled = await place(holds, workspace_id, 1_000, "req_settled")
    assert await holds.settle(settled, MicroUSD(500), usage("req_settled", workspace_id)) == 500
    await holds.keep_all_alive([*live, settled], ttl_seconds=600)
    assert await holds.reap_expired(utcnow() + timedelta(minutes=5)) == 0
    assert await holds.open_count() == 3
    assert await holds.reap_expired(utcnow() + timedelta(minutes=11)) == 3
    await assert_books_balance(database, workspace_id)
