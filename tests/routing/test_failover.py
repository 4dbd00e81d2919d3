import asyncio
import secrets
from typing import Any

import pytest
from redis.asyncio import Redis

from voxgate.catalog.schema import Route
from voxgate.providers.errors import UpstreamError
from voxgate.providers.protocols import Upstream
from voxgate.routing.breaker import MemoryBreaker, RedisBreaker
from voxgate.routing.failover import AttemptsFailed, RetryPolicy, first_success
from voxgate.routing.planner import PlannedAttempt

FAST = RetryPolicy(deadline_seconds=5, backoff_base_seconds=0.001, backoff_cap_seconds=0.01)


def attempts(*names: str) -> list[PlannedAttempt[str]]:
    return [
        PlannedAttempt(name, Route(provider="p", upstream_model="m"), Upstream(model="m"), name)
        for name in names
    ]


def breaker() -> MemoryBreaker:
    return MemoryBreaker(threshold=2, cooldown_seconds=60)


async def test_retriable_failures_move_on_and_are_logged() -> None:
    async def run(attempt: PlannedAttempt[Any]) -> str:
        if attempt.provider == "a":
            raise UpstreamError("p", "busy", status=503)
        return f"served by {attempt.provider}"

    success = await first_success(attempts("a", "b"), run, FAST, breaker())
    assert success.result == "served by b"
    assert [entry.status for entry in success.log] == ["503", "ok"]


async def test_a_client_error_is_final() -> None:
    async def run(attempt: PlannedAttempt[Any]) -> str:
        raise UpstreamError("p", "bad voice", status=400)

    with pytest.raises(AttemptsFailed) as caught:
        await first_success(attempts("a", "b"), run, FAST, breaker())
    assert caught.value.final and len(caught.value.log) == 1


async def test_a_too_large_upload_moves_on_without_counting_against_the_route() -> None:
    async def run(attempt: PlannedAttempt[Any]) -> str:
        if attempt.provider == "a":
            raise UpstreamError("p", "file too large", status=413)
        return f"served by {attempt.provider}"

    tripwire = MemoryBreaker(threshold=1, cooldown_seconds=60)
    success = await first_success(attempts("a", "b"), run, FAST, tripwire)
    assert success.result == "served by b"
    assert await tripwire.allows("a")  # one counted failure would have opened it


async def test_the_deadline_bounds_everything() -> None:
    async def run(attempt: PlannedAttempt[Any]) -> str:
        await asyncio.sleep(10)
        return "late"

    policy = RetryPolicy(deadline_seconds=0.1)
    with pytest.raises(AttemptsFailed) as caught:
        await first_success(attempts("a", "b"), run, policy, breaker())
    assert not caught.value.final
    assert len(caught.value.log) == 1  # the deadline passed inside the first attempt


def test_backoff_is_exponential_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(deadline_seconds=10, backoff_base_seconds=0.1, backoff_cap_seconds=1.0)
    assert [policy.backoff(n, None) for n in (1, 2, 3, 4, 5, 6)] == [0.0, 0.1, 0.2, 0.4, 0.8, 1.0]
    assert policy.backoff(1, 0.7) == 0.7
    assert policy.backoff(1, 30) == 1.0


async def test_the_breaker_opens_then_lets_one_probe_through() -> None:
    now = [0.0]
    cooling = MemoryBreaker(threshold=2, cooldown_seconds=10, clock=lambda: now[0])
    await cooling.failed("r")
    assert await cooling.allows("r")
    await cooling.failed("r")
    assert not await cooling.allows("r")
    now[0] = 11
    assert await cooling.allows("r")  # the probe
    assert not await cooling.allows("r")  # others wait for its verdict
    await cooling.succeeded("r")
    assert await cooling.allows("r")


async def cooldown_ends(redis: Redis, route: str) -> None:
    """The route's cooling keys (its own, and each workspace's) expire as its cooldown would."""
    async for key in redis.scan_iter(match=f"voxgate:breaker:cooling:{route}*"):
        await redis.delete(key)


async def test_the_redis_breaker_is_shared_between_processes() -> None:
    route = f"route-{secrets.token_hex(4)}"
    one, two = (
        Redis.from_url("redis://127.0.0.1:6379/0"),
        Redis.from_url("redis://127.0.0.1:6379/0"),
    )
    try:
        # A cooldown no stall of a busy machine outlasts; its end is then made, not waited for.
        first = RedisBreaker(one, threshold=2, cooldown_seconds=600)
        second = RedisBreaker(two, threshold=2, cooldown_seconds=600)
        await first.failed(route)
        await second.failed(route)
        assert not await first.allows(route)
        assert not await second.allows(route)
        await cooldown_ends(one, route)
        probes = [await first.allows(route), await second.allows(route)]
        assert probes.count(True) == 1  # one process probes
        await second.succeeded(route)
        assert await first.allows(route)
    finally:
        await one.aclose()
        await two.aclose()
