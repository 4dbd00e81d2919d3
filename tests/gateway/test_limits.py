"""Rate limits, in memory and in the real Redis at 127.0.0.1:6379."""

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from voxgate.errors import RateLimitError
from voxgate.gateway.limits import TAKE_LEASE, Limits, MemoryLimits, RedisLimits
from voxgate.store.keys import Principal

NOW = 1_000_000 * 60 + 15.0  # 15 s into a minute


@pytest.fixture(params=["memory", "redis"])
async def limits(request: pytest.FixtureRequest) -> AsyncIterator[Limits]:
    if request.param == "memory":
        yield MemoryLimits(clock=lambda: NOW)
        return
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    yield RedisLimits(redis, clock=lambda: NOW)
    await redis.aclose()


def principal(**limits: int) -> Principal:
    return Principal("ws_test", f"key_{secrets.token_hex(6)}", "test", **limits)  # type: ignore[arg-type]


async def test_requests_per_minute(limits: Limits) -> None:
    caller = principal(rpm_limit=3)
    for _ in range(3):
        async with limits.admitted(caller):
            pass
    with pytest.raises(RateLimitError) as caught:
        async with limits.admitted(caller):
            pass
    assert caught.value.status_code == 429
    assert caught.value.headers["retry-after"] == "45"


async def test_concurrency_is_released_when_a_request_ends(limits: Limits) -> None:
    caller = principal(concurrency_limit=1)
    async with limits.admitted(caller):
        with pytest.raises(RateLimitError) as caught:
            async with limits.admitted(caller):
                pass
        assert caught.value.code == "concurrency_limit_exceeded"
    async with limits.admitted(caller):
        pass


async def test_keys_without_limits_pass(limits: Limits) -> None:
    caller = principal()
    for _ in range(100):
        async with limits.admitted(caller):
            pass


async def test_redis_limits_are_shared_between_processes() -> None:
    caller = principal(rpm_limit=2)
    one, two = (
        Redis.from_url("redis://127.0.0.1:6379/0"),
        Redis.from_url("redis://127.0.0.1:6379/0"),
    )
    try:
        async with RedisLimits(one, clock=lambda: NOW).admitted(caller):
            pass
        async with RedisLimits(two, clock=lambda: NOW).admitted(caller):
            pass
        with pytest.raises(RateLimitError):
            async with RedisLimits(one, clock=lambda: NOW).admitted(caller):
                pass
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_request_longer_than_its_lease_keeps_its_slot() -> None:
    """The lease is renewed while the request runs: past several leases' time, a key limited
    to 1 still has no second slot (a counter with one expiry once gave it one)."""
    caller = principal(concurrency_limit=1)
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    limits = RedisLimits(redis, clock=lambda: NOW, lease_seconds=0.3)
    try:
        async with limits.admitted(caller):
            await redis_clock_passes(redis, seconds=1.2)  # four leases
            with pytest.raises(RateLimitError):
                async with limits.admitted(caller):
                    pass
        async with limits.admitted(caller):  # released at the end, not by lapsing
            pass
    finally:
        await redis.aclose()


async def test_a_lease_nobody_renews_lapses() -> None:
    """A process that died holding a lease (it never renews or releases) frees the slot after
    the lease, not never."""
    caller = principal(concurrency_limit=1)
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        taken = await redis.eval(
            TAKE_LEASE, 1, f"voxgate:leases:{caller.key_id}", "dead-process", 300, 1
        )
        assert taken == 1
        limits = RedisLimits(redis, clock=lambda: NOW, lease_seconds=0.3)
        with pytest.raises(RateLimitError):
            async with limits.admitted(caller):
                pass
        await redis_clock_passes(redis, seconds=0.4)
        async with limits.admitted(caller):
            pass
    finally:
        await redis.aclose()


async def redis_clock_passes(redis: Redis, *, seconds: float) -> None:
    """Wait until Redis's own clock, which leases are measured by, has moved `seconds` on."""
    start = _seconds(await redis.time())
    while True:
        if _seconds(await redis.time()) - start >= seconds:
            return
        await asyncio.sleep(0.02)


def _seconds(clock: tuple[int, int]) -> float:
    return clock[0] + clock[1] / 1_000_000
