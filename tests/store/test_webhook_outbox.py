"""The webhook outbox on a real database: an alert is queued for the webhooks that take its
event (a workspace's own, and the operator's), claimed by one sender at a time, retried, and
logged."""

from datetime import timedelta

from tests.billing.accounts import funded
from voxgate.store.database import Database
from voxgate.store.tables import utcnow
from voxgate.store.webhooks import CHARGE_FLAGGED, PROVIDER_BREAKER_OPEN, WebhookStore


async def test_an_operator_alert_reaches_the_operators_webhooks_that_take_it(
    database: Database,
) -> None:
    workspace_id = await funded(database, 1_000)
    store = WebhookStore(database)
    operator = await store.create(
        "http://127.0.0.1:9/ops",
        (PROVIDER_BREAKER_OPEN,),
        workspace_id=None,
        balance_below_micro_usd=None,
    )
    flagged_only = await store.create(
        "http://127.0.0.1:9/flags",
        (CHARGE_FLAGGED,),
        workspace_id=None,
        balance_below_micro_usd=None,
    )
    tenant = await store.create(
        "http://127.0.0.1:9/tenant",
        (PROVIDER_BREAKER_OPEN,),
        workspace_id=workspace_id,
        balance_below_micro_usd=None,
    )
    await store.raise_operator_alert(PROVIDER_BREAKER_OPEN, {"route": "openai/gpt-audio"})
    assert len(await store.deliveries(operator["id"])) == 1
    assert await store.deliveries(flagged_only["id"]) == []
    assert await store.deliveries(tenant["id"]) == []  # a tenant's webhook hears its own only


async def test_a_due_delivery_is_claimed_once_then_retried_then_given_up(
    database: Database,
) -> None:
    store = WebhookStore(database)
    webhook = await store.create(
        "http://127.0.0.1:9/ops",
        (PROVIDER_BREAKER_OPEN,),
        workspace_id=None,
        balance_below_micro_usd=None,
    )
    await store.raise_operator_alert(PROVIDER_BREAKER_OPEN, {"route": "r"})
    now = utcnow()
    [claimed] = await store.claim_due(now, timedelta(seconds=30), 10)
    assert claimed["url"] == "http://127.0.0.1:9/ops"
    assert await store.claim_due(now, timedelta(seconds=30), 10) == []  # leased to its sender
    await store.failed(claimed["id"], "HTTP 500", now, attempts=1)
    [again] = await store.claim_due(now, timedelta(seconds=30), 10)
    await store.failed(again["id"], "HTTP 500", None, attempts=2)
    [delivery] = await store.deliveries(webhook["id"])
    assert (delivery["status"], delivery["last_error"]) == ("failed", "HTTP 500")
    assert await store.claim_due(now + timedelta(hours=1), timedelta(seconds=30), 10) == []
