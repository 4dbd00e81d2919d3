"""Budgets as the operator sets and reads them (the admin API, the CLI), and the clock of their
periods; the request path keeps them in voxgate.billing.budgets."""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, insert, select, update

from voxgate.store.database import Database
from voxgate.store.tables import Budget, BudgetPeriod, Workspace, utcnow

Period = Literal["day", "month"]
ADJECTIVE = {"day": "daily", "month": "monthly"}


@dataclass(frozen=True, slots=True)
class BudgetClock:
    """Where budget periods begin and end: midnight and the first of the month, in `zone`."""

    zone: ZoneInfo

    def period_key(self, period: Period, now: datetime) -> str:
        local = now.astimezone(self.zone)
        return local.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")

    def period_end(self, period: Period, now: datetime) -> datetime:
        local = now.astimezone(self.zone)
        if period == "day":
            following = (local + timedelta(days=1)).date()
        else:
            following = (local.replace(day=28) + timedelta(days=4)).date().replace(day=1)
        start = datetime(following.year, following.month, following.day, tzinfo=self.zone)
        return start.astimezone(UTC)


UTC_CLOCK = BudgetClock(ZoneInfo("UTC"))


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    spend_limit_micro_usd: int | None = None
    request_limit: int | None = None
    audio_seconds_limit: int | None = None


class BudgetStore:
    def __init__(self, database: Database, clock: BudgetClock) -> None:
        self._database = database
        self._clock = clock

    async def create(
        self, workspace_id: str, period: Period, limits: BudgetLimits, key_id: str | None = None
    ) -> dict[str, Any]:
        budget_id = f"budget_{secrets.token_hex(8)}"
        async with self._database.transaction() as connection:
            await connection.execute(
                insert(Budget).values(
                    id=budget_id,
                    workspace_id=workspace_id,
                    key_id=key_id,
                    period=period,
                    created_at=utcnow(),
                    **_columns(limits),
                )
            )
        found = await self.get(workspace_id, budget_id)
        assert found is not None
        return found

    async def update(
        self, workspace_id: str, budget_id: str, limits: BudgetLimits
    ) -> dict[str, Any] | None:
        async with self._database.transaction() as connection:
            changed = await connection.execute(
                update(Budget)
                .where(Budget.id == budget_id, Budget.workspace_id == workspace_id)
                .values(**_columns(limits))
            )
        return await self.get(workspace_id, budget_id) if changed.rowcount else None

    async def delete(self, workspace_id: str, budget_id: str) -> bool:
        async with self._database.transaction() as connection:
            await connection.execute(
                delete(BudgetPeriod).where(BudgetPeriod.budget_id == budget_id)
            )
            removed = await connection.execute(
                delete(Budget).where(Budget.id == budget_id, Budget.workspace_id == workspace_id)
            )
        return bool(removed.rowcount)

    async def get(self, workspace_id: str, budget_id: str) -> dict[str, Any] | None:
        found = await self.all(workspace_id, budget_id=budget_id)
        return found[0] if found else None

    async def all(
        self, workspace_id: str, *, budget_id: str | None = None, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Each budget with its use in the current period."""
        moment = now or utcnow()
        query = select(Budget.__table__).where(Budget.workspace_id == workspace_id)
        if budget_id is not None:
            query = query.where(Budget.id == budget_id)
        async with self._database.reading() as connection:
            budgets = [
                dict(row)
                for row in (await connection.execute(query.order_by(Budget.created_at)))
                .mappings()
                .all()
            ]
            for budget in budgets:
                key = self._clock.period_key(budget["period"], moment)
                use = (
                    (
                        await connection.execute(
                            select(BudgetPeriod.__table__).where(
                                and_(
                                    BudgetPeriod.budget_id == budget["id"],
                                    BudgetPeriod.period_key == key,
                                )
                            )
                        )
                    )
                    .mappings()
                    .first()
                )
                budget["current_period"] = {
                    "key": key,
                    "ends_at": self._clock.period_end(budget["period"], moment),
                    "spent_micro_usd": use["spent_micro_usd"] if use else 0,
                    "held_micro_usd": use["held_micro_usd"] if use else 0,
                    "requests": use["requests"] if use else 0,
                    "audio_milliseconds": use["audio_milliseconds"] if use else 0,
                }
        return budgets

    async def current_use(self) -> list[tuple[str, str, str, float]]:
        """Each spend budget's (workspace name, budget id, period, share of its limit committed:
        spent and held) in its current period, for the metrics gauges."""
        now = utcnow()
        query = (
            select(
                Workspace.name,
                Budget.id,
                Budget.period,
                Budget.spend_limit_micro_usd,
                BudgetPeriod.period_key,
                BudgetPeriod.spent_micro_usd + BudgetPeriod.held_micro_usd,
            )
            .select_from(
                Budget.__table__.join(Workspace, Workspace.id == Budget.workspace_id).outerjoin(
                    BudgetPeriod, BudgetPeriod.budget_id == Budget.id
                )
            )
            .where(Budget.spend_limit_micro_usd.is_not(None))
        )
        use: dict[str, tuple[str, str, str, float]] = {}
        async with self._database.reading() as connection:
            for name, budget_id, period, limit, key, committed in await connection.execute(query):
                current = key == self._clock.period_key(cast(Period, period), now)
                ratio = (committed or 0) / limit if current and limit else 0.0
                if current or budget_id not in use:
                    use[budget_id] = (name, budget_id, period, ratio)
        return list(use.values())


def _columns(limits: BudgetLimits) -> dict[str, int | None]:
    return {
        "spend_limit_micro_usd": limits.spend_limit_micro_usd,
        "request_limit": limits.request_limit,
        "audio_seconds_limit": limits.audio_seconds_limit,
    }
