"""Per-key requests-per-minute and concurrency limits: in memory, or in Redis when shared."""

import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from redis.asyncio import Redis

from voxgate.errors import RateLimitError
from voxgate.store.keys import Principal

WINDOW_SECONDS = 60
# A crashed process never decrements its in-flight count; this bounds how long it lingers.
CONCURRENCY_TTL_SECONDS = 600
_DECREMENT_IF_PRESENT = (
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0"
)


class Limits(Protocol):
    def admitted(self, principal: Principal) -> AbstractAsyncContextManager[None]:
        """Enter while the request runs; raises RateLimitError when over a limit."""
        ...


class MemoryLimits:
    """For one process: counters live in this object."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}
        self._in_flight: dict[str, int] = {}

    @asynccontextmanager
    async def admitted(self, principal: Principal) -> AsyncIterator[None]:
        key = principal.key_id
        limit = principal.concurrency_limit
        if limit is not None and self._in_flight.get(key, 0) >= limit:
            raise _too_many_in_flight(limit)
        if principal.rpm_limit is not None:
            self._count_request(key, principal.rpm_limit)
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            yield
        finally:
            self._in_flight[key] -= 1

    def _count_request(self, key: str, limit: int) -> None:
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        current, count = self._windows.get(key, (window, 0))
        count = count if current == window else 0
        if count >= limit:
            raise _too_many_per_minute(limit, now)
        self._windows[key] = (window, count + 1)


class RedisLimits:
    """For many processes: the counters live in Redis, touched only for keys with limits."""

    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._clock = clock

    @asynccontextmanager
    async def admitted(self, principal: Principal) -> AsyncIterator[None]:
        if principal.rpm_limit is not None:
            await self._count_request(principal.key_id, principal.rpm_limit)
        if principal.concurrency_limit is None:
            yield
            return
        name = f"voxgate:in-flight:{principal.key_id}"
        in_flight = await self._incr_with_expiry(name, CONCURRENCY_TTL_SECONDS)
        try:
            if in_flight > principal.concurrency_limit:
                raise _too_many_in_flight(principal.concurrency_limit)
            yield
        finally:
            await self._leave(name)

    async def _leave(self, name: str) -> None:
        # A counter that expired under a long session (or stream) is gone, not zero: taking
        # one off it would leave -1 and give the key a slot it does not have.
        await self._redis.eval(_DECREMENT_IF_PRESENT, 1, name)

    async def _count_request(self, key: str, limit: int) -> None:
        now = self._clock()
        name = f"voxgate:rpm:{key}:{int(now // WINDOW_SECONDS)}"
        if await self._incr_with_expiry(name, WINDOW_SECONDS + 1) > limit:
            raise _too_many_per_minute(limit, now)

    async def _incr_with_expiry(self, name: str, seconds: int) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, seconds)
            count, _ = await pipe.execute()
        return int(count)


def _too_many_per_minute(limit: int, now: float) -> RateLimitError:
    wait = max(1, math.ceil(WINDOW_SECONDS - now % WINDOW_SECONDS))
    return RateLimitError(
        f"This API key is limited to {limit} requests per minute; retry in {wait} s.",
        retry_after_seconds=wait,
    )


def _too_many_in_flight(limit: int) -> RateLimitError:
    return RateLimitError(
        f"This API key is limited to {limit} concurrent requests; retry when one finishes.",
        retry_after_seconds=1,
        code="concurrency_limit_exceeded",
    )
