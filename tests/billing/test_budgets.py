"""Budgets with periods on a real database: what a day or a month may spend, request and hear,
kept in the hold's own transaction, renewed when the period turns, per workspace or per key."""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.billing.accounts import KEY_ID, funded
from tests.billing.test_holds import assert_books_balance, usage
from voxgate.billing.holds import Holds
from voxgate.errors import InsufficientCreditError, RateLimitError
from voxgate.store.budgets import BudgetClock, BudgetLimits, BudgetStore, Period
from voxgate.store.database import Database
from voxgate.types import MicroUSD

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class LaterClock(BudgetClock):
    """The same zone, `ahead` later: what the clock reads once a period has turned."""

    ahead: timedelta = timedelta(0)

    def period_key(self, period: Period, now: datetime) -> str:
        return BudgetClock.period_key(self, period, now + self.ahead)


async def place(holds: Holds, workspace_id: str, amount: int, request_id: str) -> str:
    return await holds.place(
        workspace_id=workspace_id,
        key_id=KEY_ID,
        request_id=request_id,
        amount=MicroUSD(amount),
        ttl_seconds=60,
    )


async def test_a_daily_spend_budget_counts_holds_and_charges(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    clock = BudgetClock(UTC_ZONE)
    budgets = BudgetStore(database, clock)
    budget = await budgets.create(workspace_id, "day", BudgetLimits(spend_limit_micro_usd=25_000))
    holds = Holds(database, clock)
    first = await place(holds, workspace_id, 10_000, "r1")
    second = await place(holds, workspace_id, 10_000, "r2")
    with pytest.raises(InsufficientCreditError) as refused:
        await place(holds, workspace_id, 10_000, "r3")
    assert refused.value.code == "daily_spend_budget_exceeded"
    # What was held but not spent goes back to the budget.
    await holds.settle(first, MicroUSD(4_000), usage("r1", workspace_id))
    await holds.release(second, usage("r2", workspace_id))
    third = await place(holds, workspace_id, 20_000, "r3")
    await holds.settle(third, MicroUSD(20_000), usage("r3", workspace_id))
    [seen] = await budgets.all(workspace_id)
    assert seen["id"] == budget["id"]
    assert seen["current_period"]["spent_micro_usd"] == 24_000
    assert seen["current_period"]["held_micro_usd"] == 0
    assert seen["current_period"]["requests"] == 3
    await assert_books_balance(database, workspace_id)


async def test_a_request_budget_answers_429_until_its_period_turns(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    await BudgetStore(database, BudgetClock(UTC_ZONE)).create(
        workspace_id, "day", BudgetLimits(request_limit=2), key_id=KEY_ID
    )
    today = Holds(database, BudgetClock(UTC_ZONE))
    for n in range(2):
        hold_id = await place(today, workspace_id, 1_000, f"r{n}")
        await today.settle(hold_id, MicroUSD(1_000), usage(f"r{n}", workspace_id))
    with pytest.raises(RateLimitError) as refused:
        await place(today, workspace_id, 1_000, "r2")
    assert refused.value.code == "daily_request_budget_exceeded"
    retry = int(refused.value.headers["retry-after"])
    assert 0 < retry <= 24 * 3600 + 1
    tomorrow = Holds(database, LaterClock(UTC_ZONE, ahead=timedelta(days=1)))
    await place(tomorrow, workspace_id, 1_000, "r3")


async def test_a_hold_is_settled_against_the_period_it_began_in(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    today_clock = BudgetClock(UTC_ZONE)
    budgets = BudgetStore(database, today_clock)
    await budgets.create(workspace_id, "day", BudgetLimits(spend_limit_micro_usd=10_000))
    hold_id = await place(Holds(database, today_clock), workspace_id, 10_000, "late")
    # Past midnight the new day has its whole budget, while the old hold is still open.
    tomorrow = Holds(database, LaterClock(UTC_ZONE, ahead=timedelta(days=1)))
    other = await place(tomorrow, workspace_id, 10_000, "next-day")
    await tomorrow.settle(hold_id, MicroUSD(7_000), usage("late", workspace_id))
    await tomorrow.settle(other, MicroUSD(1_000), usage("next-day", workspace_id))
    [today] = await budgets.all(workspace_id)
    assert today["current_period"]["spent_micro_usd"] == 7_000
    assert today["current_period"]["held_micro_usd"] == 0


async def test_an_audio_budget_refuses_once_used_up(database: Database) -> None:
    workspace_id = await funded(database, 1_000_000)
    clock = BudgetClock(UTC_ZONE)
    await BudgetStore(database, clock).create(
        workspace_id, "month", BudgetLimits(audio_seconds_limit=60)
    )
    holds = Holds(database, clock)
    spoken = await place(holds, workspace_id, 1_000, "spoken")
    await holds.settle(
        spoken, MicroUSD(500), replace(usage("spoken", workspace_id), audio_milliseconds=60_000)
    )
    with pytest.raises(RateLimitError) as refused:
        await place(holds, workspace_id, 1_000, "more")
    assert refused.value.code == "monthly_audio_budget_exceeded"


@pytest.mark.parametrize(
    ("zone", "now", "period", "key", "ends"),
    [
        # Tokyo's day begins at 15:00 UTC.
        ("Asia/Tokyo", "2026-12-07T14:59:59", "day", "2026-12-07", "2026-12-07T15:00:00"),
        ("Asia/Tokyo", "2026-12-07T15:00:00", "day", "2026-12-08", "2026-12-08T15:00:00"),
        ("UTC", "2026-12-31T23:59:59", "month", "2026-12", "2027-01-01T00:00:00"),
        ("UTC", "2027-02-28T12:00:00", "month", "2027-02", "2027-03-01T00:00:00"),
        # The day the clocks go back in Paris lasts 25 hours.
        ("Europe/Paris", "2026-10-25T12:00:00", "day", "2026-10-25", "2026-10-25T23:00:00"),
    ],
)
def test_periods_turn_at_local_midnight_and_the_first_of_the_month(
    zone: str, now: str, period: Period, key: str, ends: str
) -> None:
    clock = BudgetClock(ZoneInfo(zone))
    moment = datetime.fromisoformat(now).replace(tzinfo=UTC)
    assert clock.period_key(period, moment) == key
    assert clock.period_end(period, moment) == datetime.fromisoformat(ends).replace(tzinfo=UTC)
