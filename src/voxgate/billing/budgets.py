"""Budgets with periods: what a workspace, or one of its keys, may spend, request and hear per
day or per month, in the operator's time zone.

A budget is kept in the same transaction as the hold it bounds: placing a hold counts the
request and holds its amount against each budget's current period, or refuses having changed
nothing; settling moves what was held to what was spent. A hold remembers the periods it was
counted in, so a hold that outlives midnight is settled against the day it began.
"""

from datetime import UTC, datetime

from voxgate.errors import GatewayError, InsufficientCreditError, RateLimitError
from voxgate.money import format_usd
from voxgate.store.budgets import ADJECTIVE, BudgetClock
from voxgate.store.sql import Sql, Tx
from voxgate.store.webhooks import BUDGET_THRESHOLD, raise_alert
from voxgate.types import MicroUSD

_APPLYING = Sql(
    "SELECT id, period FROM budgets "
    "WHERE workspace_id = :workspace_id AND (key_id IS NULL OR key_id = :key_id)"
)
_OPEN_PERIOD = Sql(
    "INSERT INTO budget_periods (budget_id, period_key, spent_micro_usd, held_micro_usd, "
    "requests, audio_milliseconds) VALUES (:budget_id, :period_key, 0, 0, 0, 0) "
    "ON CONFLICT (budget_id, period_key) DO NOTHING"
)
# One conditional statement: the check and the count cannot be raced apart.
_COUNT_REQUEST = Sql(
    "UPDATE budget_periods SET held_micro_usd = held_micro_usd + :amount, "
    "requests = requests + 1 "
    "WHERE budget_id = :budget_id AND period_key = :period_key AND EXISTS ("
    "SELECT 1 FROM budgets b WHERE b.id = :budget_id "
    "AND (b.spend_limit_micro_usd IS NULL "
    "OR budget_periods.spent_micro_usd + budget_periods.held_micro_usd + :amount "
    "<= b.spend_limit_micro_usd) "
    "AND (b.request_limit IS NULL OR budget_periods.requests + 1 <= b.request_limit) "
    "AND (b.audio_seconds_limit IS NULL "
    "OR budget_periods.audio_milliseconds < b.audio_seconds_limit * 1000))"
)
_HOLD_MORE = Sql(
    "UPDATE budget_periods SET held_micro_usd = held_micro_usd + :amount "
    "WHERE budget_id = :budget_id AND period_key = :period_key AND EXISTS ("
    "SELECT 1 FROM budgets b WHERE b.id = :budget_id "
    "AND (b.spend_limit_micro_usd IS NULL "
    "OR budget_periods.spent_micro_usd + budget_periods.held_micro_usd + :amount "
    "<= b.spend_limit_micro_usd))"
)
_REMEMBER = Sql(
    "INSERT INTO hold_budgets (hold_id, budget_id, period_key) "
    "VALUES (:hold_id, :budget_id, :period_key)"
)
_COUNTED_IN = Sql("SELECT budget_id, period_key FROM hold_budgets WHERE hold_id = :hold_id")
_SPEND = Sql(
    "UPDATE budget_periods SET held_micro_usd = held_micro_usd - :released, "
    "spent_micro_usd = spent_micro_usd + :charged, "
    "audio_milliseconds = audio_milliseconds + :audio_milliseconds "
    "WHERE budget_id = :budget_id AND period_key = :period_key RETURNING spent_micro_usd"
)
_SPEND_LIMIT = Sql(
    "SELECT workspace_id, key_id, period, spend_limit_micro_usd FROM budgets WHERE id = :budget_id"
)
_SPEND_BUDGETS = Sql(
    "SELECT id, period, spend_limit_micro_usd FROM budgets "
    "WHERE workspace_id = :workspace_id AND (key_id IS NULL OR key_id = :key_id) "
    "AND spend_limit_micro_usd IS NOT NULL"
)
_COMMITTED = Sql(
    "SELECT spent_micro_usd + held_micro_usd FROM budget_periods "
    "WHERE budget_id = :budget_id AND period_key = :period_key"
)
_KEY_ROOM = Sql(
    "SELECT spend_limit_micro_usd - spent_micro_usd - held_micro_usd FROM api_keys "
    "WHERE id = :key_id AND spend_limit_micro_usd IS NOT NULL"
)
_LIMITS = Sql(
    "SELECT b.period, b.spend_limit_micro_usd, b.request_limit, b.audio_seconds_limit, "
    "p.spent_micro_usd + p.held_micro_usd, p.requests, p.audio_milliseconds "
    "FROM budgets b JOIN budget_periods p ON p.budget_id = b.id "
    "WHERE b.id = :budget_id AND p.period_key = :period_key"
)


async def count_request(
    tx: Tx,
    clock: BudgetClock,
    *,
    hold_id: str,
    workspace_id: str,
    key_id: str,
    amount: MicroUSD,
    now: datetime,
) -> None:
    """Count a request and hold `amount` in every budget of its workspace and key, or raise
    (402 for spend, 429 for requests and audio) naming the budget."""
    for budget_id, period in await tx.fetch_all(
        _APPLYING, workspace_id=workspace_id, key_id=key_id
    ):
        period_key = clock.period_key(period, now)
        await tx.execute(_OPEN_PERIOD, budget_id=budget_id, period_key=period_key)
        counted = await tx.execute(
            _COUNT_REQUEST, budget_id=budget_id, period_key=period_key, amount=amount
        )
        if counted != 1:
            raise await _refusal(tx, clock, budget_id, period_key, amount, now)
        await tx.execute(_REMEMBER, hold_id=hold_id, budget_id=budget_id, period_key=period_key)


async def hold_more(tx: Tx, clock: BudgetClock, hold_id: str, amount: MicroUSD) -> None:
    """Hold `amount` more in the budgets the hold was counted in, or raise naming one."""
    for budget_id, period_key in await tx.fetch_all(_COUNTED_IN, hold_id=hold_id):
        held = await tx.execute(
            _HOLD_MORE, budget_id=budget_id, period_key=period_key, amount=amount
        )
        if held != 1:
            now = datetime.now(UTC)
            raise await _refusal(tx, clock, budget_id, period_key, amount, now)


async def spend_room(
    tx: Tx,
    clock: BudgetClock,
    *,
    hold_id: str,
    workspace_id: str,
    key_id: str,
    own: MicroUSD,
    now: datetime,
) -> tuple[MicroUSD, str] | None:
    """The least a request under way may still spend by the key's spend limit and the spend
    budgets that apply now (budgets made, lowered or renewed since it began count too), with
    the code that names the limit; None when none applies. `own` is what its hold holds and
    no work of it has reserved: room in the key and in each period the hold was counted in."""
    counted = {(row[0], row[1]) for row in await tx.fetch_all(_COUNTED_IN, hold_id=hold_id)}
    rooms: list[tuple[MicroUSD, str]] = []
    key_room = await tx.fetch_one(_KEY_ROOM, key_id=key_id)
    if key_room is not None:
        rooms.append((MicroUSD(int(key_room[0]) + own), "key_spend_limit_reached"))
    for budget_id, period, limit in await tx.fetch_all(
        _SPEND_BUDGETS, workspace_id=workspace_id, key_id=key_id
    ):
        period_key = clock.period_key(period, now)
        committed = await tx.fetch_one(_COMMITTED, budget_id=budget_id, period_key=period_key)
        mine = own if (budget_id, period_key) in counted else 0
        room = int(limit) - (int(committed[0]) if committed else 0) + mine
        rooms.append((MicroUSD(room), f"{ADJECTIVE[period]}_spend_budget_exceeded"))
    return min(rooms, default=None)


async def spend(
    tx: Tx, hold_id: str, *, released: MicroUSD, charged: MicroUSD, audio_milliseconds: int
) -> None:
    """What the hold gave back (`released` of what it held) and what it charged; a spend that
    crosses 80% or 100% of a budget raises an alert."""
    for budget_id, period_key in await tx.fetch_all(_COUNTED_IN, hold_id=hold_id):
        spent = await tx.fetch_one(
            _SPEND,
            budget_id=budget_id,
            period_key=period_key,
            released=released,
            charged=charged,
            audio_milliseconds=audio_milliseconds,
        )
        if spent is not None and charged > 0:
            await _alert_marks(tx, budget_id, period_key, int(spent[0]), charged)


async def _alert_marks(
    tx: Tx, budget_id: str, period_key: str, spent: int, charged: MicroUSD
) -> None:
    budget = await tx.fetch_one(_SPEND_LIMIT, budget_id=budget_id)
    if budget is None or budget[3] is None:
        return
    workspace_id, key_id, period, limit = budget
    for mark in crossed_marks(spent - charged, spent, int(limit)):
        await raise_alert(
            tx,
            BUDGET_THRESHOLD,
            {
                "budget_id": budget_id,
                "key_id": key_id,
                "period": period,
                "period_key": period_key,
                "percent": mark,
                "spent_micro_usd": spent,
                "spend_limit_micro_usd": int(limit),
            },
            datetime.now(UTC),
            workspace_id=workspace_id,
        )


async def _refusal(
    tx: Tx,
    clock: BudgetClock,
    budget_id: str,
    period_key: str,
    amount: MicroUSD,
    now: datetime,
) -> GatewayError:
    row = await tx.fetch_one(_LIMITS, budget_id=budget_id, period_key=period_key)
    assert row is not None, "the period was opened in this transaction"
    period, spend_limit, request_limit, audio_limit, committed, requests, audio_ms = row
    name = ADJECTIVE[period]
    retry = max(1, int((clock.period_end(period, now) - now).total_seconds()) + 1)
    if spend_limit is not None and committed + amount > spend_limit:
        return InsufficientCreditError(
            f"The {name} spend budget (${format_usd(MicroUSD(spend_limit))}) leaves less than "
            f"the ${format_usd(amount)} this request must hold; it renews in {retry} s.",
            code=f"{name}_spend_budget_exceeded",
        )
    if request_limit is not None and requests + 1 > request_limit:
        return RateLimitError(
            f"The {name} budget of {request_limit} requests is used up; it renews in {retry} s.",
            retry_after_seconds=retry,
            code=f"{name}_request_budget_exceeded",
        )
    return RateLimitError(
        f"The {name} budget of {audio_limit} audio seconds is used up ({audio_ms / 1000:g} s); "
        f"it renews in {retry} s.",
        retry_after_seconds=retry,
        code=f"{name}_audio_budget_exceeded",
    )


# Budget use, in percent, at which an alert goes out once per period.
BUDGET_MARKS = (80, 100)


def crossed_marks(before: int, after: int, limit: int) -> list[int]:
    """The budget marks (percent of `limit`) that spend crossed going from before to after."""
    if limit <= 0:
        return []
    return [mark for mark in BUDGET_MARKS if before * 100 < mark * limit <= after * 100]
