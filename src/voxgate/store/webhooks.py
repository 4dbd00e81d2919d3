"""Webhook subscriptions and their deliveries (the outbox the alerts are written to)."""

import secrets
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, or_, select, update

from voxgate.store.database import Database
from voxgate.store.sql import Sql, Tx
from voxgate.store.tables import Wallet, Webhook, WebhookDelivery, utcnow

BALANCE_LOW = "balance.low"
BUDGET_THRESHOLD = "budget.threshold"
CHARGE_FLAGGED = "charge.flagged"
PROVIDER_BREAKER_OPEN = "provider.breaker_open"
EVENTS = (BALANCE_LOW, BUDGET_THRESHOLD, CHARGE_FLAGGED, PROVIDER_BREAKER_OPEN)

# A workspace's own webhooks, and the operator's (no workspace), that take `event`.
_SUBSCRIBED = Sql(
    "SELECT id, balance_below_micro_usd FROM webhooks "
    "WHERE (workspace_id = :workspace_id OR workspace_id IS NULL) "
    "AND ',' || events || ',' LIKE :pattern"
)
_OPERATORS = Sql(
    "SELECT id, balance_below_micro_usd FROM webhooks "
    "WHERE workspace_id IS NULL AND ',' || events || ',' LIKE :pattern"
)
_ENQUEUE = Sql(
    "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, attempts, "
    "next_attempt_at, created_at) "
    "VALUES (:id, :webhook_id, :event, :payload, 'pending', 0, :now, :now)"
)


async def raise_alert(
    tx: Tx,
    event: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    workspace_id: str | None,
    balance_crossed: tuple[int, int] | None = None,
) -> int:
    """Queue `event` for every webhook that takes it; a balance alert only for the webhooks
    whose watched balance was crossed (`balance_crossed` is the balance before and after)."""
    pattern = f"%,{event},%"
    if workspace_id is None:
        subscribed = await tx.fetch_all(_OPERATORS, pattern=pattern)
    else:
        subscribed = await tx.fetch_all(_SUBSCRIBED, workspace_id=workspace_id, pattern=pattern)
    body = orjson.dumps(
        {"type": event, "created_at": now.isoformat(), "workspace_id": workspace_id, **payload}
    ).decode()
    queued = 0
    for webhook_id, below in subscribed:
        if balance_crossed is not None:
            before, after = balance_crossed
            if below is None or not after < below <= before:
                continue
        await tx.execute(
            _ENQUEUE,
            id=f"whd_{secrets.token_hex(10)}",
            webhook_id=webhook_id,
            event=event,
            payload=body,
            now=now,
        )
        queued += 1
    return queued


class WebhookStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(
        self,
        url: str,
        events: tuple[str, ...],
        *,
        workspace_id: str | None,
        balance_below_micro_usd: int | None,
    ) -> dict[str, Any]:
        webhook_id = f"wh_{secrets.token_hex(8)}"
        async with self._database.transaction() as connection:
            await connection.execute(
                insert(Webhook).values(
                    id=webhook_id,
                    workspace_id=workspace_id,
                    url=url,
                    events=",".join(events),
                    balance_below_micro_usd=balance_below_micro_usd,
                    created_at=utcnow(),
                )
            )
            await self._watch_balances(connection)
        found = await self.get(webhook_id)
        assert found is not None
        return found

    async def delete(self, webhook_id: str) -> bool:
        async with self._database.transaction() as connection:
            removed = await connection.execute(delete(Webhook).where(Webhook.id == webhook_id))
            await self._watch_balances(connection)
        return bool(removed.rowcount)

    async def get(self, webhook_id: str) -> dict[str, Any] | None:
        query = select(Webhook.__table__).where(Webhook.id == webhook_id)
        async with self._database.reading() as connection:
            row = (await connection.execute(query)).mappings().first()
        return dict(row) if row else None

    async def all(self) -> list[dict[str, Any]]:
        query = select(Webhook.__table__).order_by(Webhook.created_at)
        async with self._database.reading() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def raise_operator_alert(self, event: str, payload: dict[str, Any]) -> None:
        """An alert that no money moved with (a provider's breaker opening), for the operator's
        webhooks."""

        async def work(tx: Tx) -> None:
            await raise_alert(tx, event, payload, utcnow(), workspace_id=None)

        await self._database.write(work)

    async def deliveries(self, webhook_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The delivery log of one webhook, newest first."""
        query = (
            select(WebhookDelivery.__table__)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
            .limit(limit)
        )
        async with self._database.reading() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[dict[str, Any]]:
        """Deliveries due now, each claimed for `lease` (its next attempt moved on), so that
        other processes leave them alone while this one sends them."""
        due = (
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        claimed: list[dict[str, Any]] = []
        async with self._database.transaction() as connection:
            for (delivery_id,) in (await connection.execute(due)).all():
                taken = await connection.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == delivery_id,
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at <= now,
                    )
                    .values(next_attempt_at=now + lease)
                )
                if taken.rowcount == 1:
                    claimed.append({"id": delivery_id})
            if not claimed:
                return []
            rows = await connection.execute(
                select(WebhookDelivery.__table__, Webhook.url)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.id.in_([c["id"] for c in claimed]))
            )
            return [dict(row) for row in rows.mappings()]

    async def delivered(self, delivery_id: str, now: datetime) -> None:
        await self._finish(delivery_id, status="delivered", delivered_at=now, last_error=None)

    async def failed(
        self, delivery_id: str, error: str, retry_at: datetime | None, attempts: int
    ) -> None:
        """One attempt failed: try again at `retry_at`, or give up (None)."""
        if retry_at is None:
            await self._finish(delivery_id, status="failed", last_error=error[:500])
            return
        async with self._database.transaction() as connection:
            await connection.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(attempts=attempts, next_attempt_at=retry_at, last_error=error[:500])
            )

    async def _finish(self, delivery_id: str, **values: Any) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(attempts=WebhookDelivery.attempts + 1, **values)
            )

    @staticmethod
    async def _watch_balances(connection: Any) -> None:
        """Each wallet watches the highest balance any webhook of its workspace, or of the
        operator, alerts below."""
        highest = (
            select(func.max(Webhook.balance_below_micro_usd))
            .where(or_(Webhook.workspace_id == Wallet.workspace_id, Webhook.workspace_id.is_(None)))
            .scalar_subquery()
        )
        await connection.execute(update(Wallet).values(alert_below_micro_usd=highest))
