"""Billing turned off: nothing is held, charged or recorded (a pure proxy, and the benchmark's
baseline for what billing costs)."""

from collections.abc import Sequence
from datetime import datetime

from voxgate.billing.usage import UsageRecord
from voxgate.types import MicroUSD


class UnbilledHolds:
    async def place(
        self, *, workspace_id: str, key_id: str, request_id: str, amount: MicroUSD, ttl_seconds: int
    ) -> str:
        return request_id

    async def extend(self, hold_id: str, amount: MicroUSD) -> None:
        return None

    async def keep_alive(self, hold_id: str, ttl_seconds: int) -> bool:
        return True

    async def keep_all_alive(self, hold_ids: Sequence[str], ttl_seconds: int) -> None:
        return None

    async def draw(self, hold_id: str, cost: MicroUSD, usage: UsageRecord) -> MicroUSD:
        return cost

    async def settle(self, hold_id: str, cost: MicroUSD, usage: UsageRecord) -> MicroUSD:
        return cost

    async def release(self, hold_id: str, usage: UsageRecord) -> None:
        return None

    async def record(self, usage: UsageRecord) -> None:
        return None

    async def available(self, workspace_id: str) -> MicroUSD:
        # Nothing is billed, so nothing is refused for want of credit.
        return MicroUSD(2**63 - 1)

    async def spend_room(
        self, hold_id: str, workspace_id: str, key_id: str, own: MicroUSD
    ) -> tuple[MicroUSD, str] | None:
        return None

    async def reap_expired(self, now: datetime | None = None) -> int:
        return 0

    async def open_count(self) -> int:
        return 0
