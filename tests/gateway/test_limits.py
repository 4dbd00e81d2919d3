"""Rate limits, in memory and in the real Redis at 127.0.0.1:6379."""

import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from voxgate.errors import RateLimitError
from voxgate.gateway.limits import Limits, MemoryLimits, RedisLimits
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


async def test_a_counter_that_expired_under_a_long_session_gives_no_extra_slot() -> None:
    caller = principal(concurrency_limit=1)
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    limits = RedisLimits(redis, clock=lambda: NOW)
    try:
        async with limits.admitted(caller):
            # The session outlives the counter's expiry (CONCURRENCY_TTL_SECONDS).
            await redis.delete(f"voxgate:in-flight:{caller.key_id}")
        async with limits.admitted(caller):
            with pytest.raises(RateLimitError):
                async with limits.admitted(caller):
                    pass
    finally:
        await redis.aclose()
