"""Reads of usage records, always within one workspace."""

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, func, select

from voxgate.store.database import Database
from voxgate.store.tables import Usage

USAGE_COLUMNS = tuple(column.name for column in Usage.__table__.columns)


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
        before: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; `before` is the (created_at, request_id) of the last row seen."""
        query = select(Usage.__table__).where(Usage.workspace_id == workspace_id)
        if since is not None:
            query = query.where(Usage.created_at >= since)
        if until is not None:
            query = query.where(Usage.created_at < until)
        if model is not None:
            query = query.where(Usage.model == model)
        if before is not None:
            created_at, request_id = before
            query = query.where(
                (Usage.created_at < created_at)
                | ((Usage.created_at == created_at) & (Usage.request_id < request_id))
            )
        query = query.order_by(Usage.created_at.desc(), Usage.request_id.desc()).limit(limit)
        async with self._database.reading() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

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
