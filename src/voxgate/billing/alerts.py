"""Alerts raised by money moving: a balance that falls below what a webhook watches, a budget
at 80% and at 100% of its spend, a charge flagged for a look.

Each alert is written to the webhook outbox in the transaction that moved the money, so an
alert is never lost nor sent for money that did not move; voxgate.courier delivers them.
"""

import secrets
from datetime import datetime
from typing import Any

import orjson

from voxgate.store.sql import Sql, Tx

# Budget use, in percent, at which an alert goes out once per period.
BUDGET_MARKS = (80, 100)

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


def crossed_marks(before: int, after: int, limit: int) -> list[int]:
    """The budget marks (percent of `limit`) that spend crossed going from before to after."""
    if limit <= 0:
        return []
    return [mark for mark in BUDGET_MARKS if before * 100 < mark * limit <= after * 100]
