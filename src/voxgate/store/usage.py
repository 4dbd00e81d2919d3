"""Reads of usage records and open holds, always within one workspace (margins: the operator's,
across them)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, exists, func, select

from voxgate.store.database import Database
from voxgate.store.tables import Hold, Usage

USAGE_COLUMNS = tuple(column.name for column in Usage.__table__.columns)
# What a chart of usage over time reads of each record.
SERIES_COLUMNS = (
    Usage.created_at,
    Usage.model,
    Usage.status,
    Usage.charged_micro_usd,
    Usage.audio_milliseconds,
    Usage.latency_ms,
    Usage.attempts,
)


@dataclass(frozen=True)
class UsageFilter:
    """Which records of a workspace to read; a field left None does not filter."""

    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    request_id: str | None = None
    key_id: str | None = None
    status: str | None = None
    task: str | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.since is not None:
            query = query.where(Usage.created_at >= self.since)
        if self.until is not None:
            query = query.where(Usage.created_at < self.until)
        equal = {
            Usage.model: self.model,
            Usage.request_id: self.request_id,
            Usage.key_id: self.key_id,
            Usage.status: self.status,
            Usage.task: self.task,
        }
        for column, value in equal.items():
            if value is not None:
                query = query.where(column == value)
        return query


class UsageReader:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, workspace_id: str, request_id: str) -> dict[str, Any] | None:
        query = select(Usage.__table__).where(
            Usage.workspace_id == workspace_id, Usage.request_id == request_id
        )
        async with self._database.reading() as connection:
            row = (await connection.execute(query)).mappings().first()
        return dict(row) if row else None

    async def page(
        self,
        workspace_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        model: str | None = None,
        where: UsageFilter | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; `before` is the (created_at, request_id) of the last row seen."""
        query = select(Usage.__table__).where(Usage.workspace_id == workspace_id)
        query = UsageFilter(since=since, until=until, model=model).apply(query)
        if where is not None:
            query = where.apply(query)
        if before is not None:
            created_at, request_id = before
            query = query.where(
                (Usage.created_at < created_at)
                | ((Usage.created_at == created_at) & (Usage.request_id < request_id))
            )
        query = query.order_by(Usage.created_at.desc(), Usage.request_id.desc()).limit(limit)
        async with self._database.reading() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def series(
        self, workspace_id: str, since: datetime, until: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """The few columns of each record a chart of usage over time needs, oldest first, at
        most `limit` of them (the caller says when a range holds more)."""
        query = (
            select(*SERIES_COLUMNS)
            .where(Usage.workspace_id == workspace_id)
            .where(Usage.created_at >= since, Usage.created_at < until)
            .order_by(Usage.created_at)
            .limit(limit)
        )
        async with self._database.reading() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def open_holds(self, workspace_id: str) -> list[dict[str, Any]]:
        """The workspace's live holds, oldest first, each marked when it holds for a realtime
        session (whose responses are recorded as '<session request id>.<n>')."""
        realtime = exists().where(
            Usage.workspace_id == workspace_id,
            Usage.task == "realtime",
            Usage.request_id.like(Hold.request_id + ".%"),
        )
        query = (
            select(
                Hold.request_id,
                Hold.key_id,
                Hold.amount_micro_usd,
                Hold.created_at,
                Hold.expires_at,
                realtime.label("realtime"),
            )
            .where(Hold.workspace_id == workspace_id, Hold.status == "open")
            .order_by(Hold.created_at)
        )
        async with self._database.reading() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def open_hold_counts(self) -> dict[str, int]:
        """For the operator: how many holds each workspace has open."""
        query = (
            select(Hold.workspace_id, func.count().label("holds"))
            .where(Hold.status == "open")
            .group_by(Hold.workspace_id)
        )
        async with self._database.reading() as connection:
            rows = (await connection.execute(query)).all()
        return {workspace_id: int(holds) for workspace_id, holds in rows}

    async def margins(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """For the operator, across workspaces: per model and route that served, the requests,
        what clients were charged, what the providers cost, and the flagged charges."""
        flagged = {
            f"{flag.name}_count": func.sum(func.cast(flag, Integer))
            for flag in (Usage.provider_overrun, Usage.estimated, Usage.usage_mismatch)
        }
        query = select(
            Usage.model,
            Usage.route,
            func.count().label("requests"),
            func.sum(Usage.charged_micro_usd).label("charged_micro_usd"),
            func.sum(Usage.provider_cost_micro_usd).label("provider_cost_micro_usd"),
            *(value.label(name) for name, value in flagged.items()),
        ).where(Usage.route.is_not(None))
        if since is not None:
            query = query.where(Usage.created_at >= since)
        if until is not None:
            query = query.where(Usage.created_at < until)
        query = query.group_by(Usage.model, Usage.route).order_by(Usage.model, Usage.route)
        async with self._database.reading() as connection:
            rows = [dict(row) for row in (await connection.execute(query)).mappings()]
        for row in rows:
            for name in ("charged_micro_usd", "provider_cost_micro_usd", *flagged):
                row[name] = int(row[name] or 0)
            row["margin_micro_usd"] = row["charged_micro_usd"] - row["provider_cost_micro_usd"]
        return rows
