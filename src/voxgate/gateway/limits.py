"""Per-key requests-per-minute and concurrency limits: in memory, or in Redis when shared."""

import asyncio
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from redis.asyncio import Redis

from voxgate.errors import RateLimitError
from voxgate.store.keys import Principal

logger = logging.getLogger("voxgate.limits")

WINDOW_SECONDS = 60
# A request in flight holds a lease in Redis, renewed while it runs: a crashed process stops
# renewing, and its leases lapse after this long. (A counter with one expiry, never renewed,
# once lapsed under a 10-minute session and let a key limited to 1 hold 2.)
DEFAULT_LEASE_SECONDS = 60.0
RENEWALS_PER_LEASE = 3
# Leases are a sorted set of lease ids scored by when each lapses, on Redis's own clock (the
# processes' clocks may differ). Lapsed ones are dropped before counting.
TAKE_LEASE = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
RENEW_LEASE = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


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

    def __init__(
        self,
        redis: Redis,
        clock: Callable[[], float] = time.time,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._lease_ms = max(1, int(lease_seconds * 1000))

    @asynccontextmanager
    async def admitted(self, principal: Principal) -> AsyncIterator[None]:
        if principal.rpm_limit is not None:
            await self._count_request(principal.key_id, principal.rpm_limit)
        if principal.concurrency_limit is None:
            yield
            return
        name = f"voxgate:leases:{principal.key_id}"
        lease = secrets.token_hex(8)
        taken = await self._redis.eval(
            TAKE_LEASE, 1, name, lease, self._lease_ms, principal.concurrency_limit
        )
        if not taken:
            raise _too_many_in_flight(principal.concurrency_limit)
        renewing = asyncio.create_task(self._renew_forever(name, lease))
        try:
            yield
        finally:
            # A renewal already sent reaches Redis before the release, not after it (which
            # would hold the slot again until the lease lapsed).
            renewing.cancel()
            await asyncio.wait([renewing])
            await self._redis.zrem(name, lease)

    async def _renew_forever(self, name: str, lease: str) -> None:
        interval = self._lease_ms / 1000 / RENEWALS_PER_LEASE
        while True:
            await asyncio.sleep(interval)
            try:
                await self._redis.eval(RENEW_LEASE, 1, name, lease, self._lease_ms)
            except Exception:
                # The next renewal may succeed before the lease lapses; if not, the key has
                # one slot more than its limit until this request ends.
                logger.exception("renewing a concurrency lease failed")

    async def _count_request(self, key: str, limit: int) -> None:
        now = self._clock()
        name = f"voxgate:rpm:{key}:{int(now // WINDOW_SECONDS)}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, WINDOW_SECONDS + 1)
            count, _ = await pipe.execute()
        if int(count) > limit:
            raise _too_many_per_minute(limit, now)


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
