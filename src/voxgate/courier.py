"""Delivers the alerts in the webhook outbox: signed, retried with backoff, each attempt logged.

A delivery is a POST of the alert's JSON with `voxgate-signature: t=<unix time>,v1=<hex>`, the
HMAC-SHA256 of `<t>.<body>` under the webhook's secret, as Stripe signs its webhooks: a
receiver recomputes it and refuses a stale `t`. A webhook's secret is derived from the key
pepper and its id, so it is stored nowhere and shown once, when the webhook is made.
"""

import asyncio
import hashlib
import hmac
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from voxgate.store.webhooks import WebhookStore

logger = logging.getLogger("voxgate.courier")

SIGNATURE_HEADER = "voxgate-signature"
LEASE = timedelta(seconds=30)
BATCH = 20


def webhook_secret(pepper: bytes, webhook_id: str) -> str:
    return "whsec_" + hmac.new(pepper, f"webhook:{webhook_id}".encode(), hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class Courier:
    def __init__(
        self,
        store: WebhookStore,
        pepper: bytes,
        *,
        interval_seconds: float,
        max_attempts: int,
        first_backoff_seconds: float,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._store = store
        self._pepper = pepper
        self._interval = interval_seconds
        self._max_attempts = max_attempts
        self._first_backoff = first_backoff_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def run_forever(self) -> None:
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            while True:
                try:
                    await self.deliver_due(session)
                except Exception:
                    logger.exception("delivering webhooks failed")
                await asyncio.sleep(self._interval)

    async def deliver_due(self, session: aiohttp.ClientSession) -> int:
        now = datetime.now(UTC)
        due = await self._store.claim_due(now, LEASE, BATCH)
        await asyncio.gather(*(self._deliver(session, delivery) for delivery in due))
        return len(due)

    async def _deliver(self, session: aiohttp.ClientSession, delivery: dict[str, Any]) -> None:
        body = delivery["payload"].encode()
        secret = webhook_secret(self._pepper, delivery["webhook_id"])
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: signature(secret, int(time.time()), body),
            "voxgate-delivery": delivery["id"],
            "voxgate-event": delivery["event"],
        }
        try:
            async with session.post(delivery["url"], data=body, headers=headers) as response:
                if 200 <= response.status < 300:
                    await self._store.delivered(delivery["id"], datetime.now(UTC))
                    return
                error = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = type(exc).__name__
        attempts = int(delivery["attempts"]) + 1
        retry_at = None
        if attempts < self._max_attempts:
            backoff = self._first_backoff * 2 ** (attempts - 1)
            retry_at = datetime.now(UTC) + timedelta(seconds=backoff)
        logger.warning(
            "webhook delivery %s failed (%s), attempt %d of %d",
            delivery["id"],
            error,
            attempts,
            self._max_attempts,
        )
        await self._store.failed(delivery["id"], error, retry_at, attempts)
