"""The breaker opens on upstream faults, not on one tenant's requests: a workspace whose
requests fail closes the route to itself alone; the route closes to everyone when failures
came from several workspaces (in memory and in the real Redis at 127.0.0.1:6379)."""

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from redis.asyncio import Redis

from voxgate.routing.breaker import (
    AlertingBreaker,
    Breaker,
    MemoryBreaker,
    RedisBreaker,
    calling_tenant,
)

T = TypeVar("T")


@pytest.fixture(params=["memory", "redis"])
async def breaker(request: pytest.FixtureRequest) -> AsyncIterator[Breaker]:
    if request.param == "memory":
        yield MemoryBreaker(threshold=3, cooldown_seconds=60, tenants=3)
        return
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    yield RedisBreaker(redis, threshold=3, cooldown_seconds=60, tenants=3)
    await redis.aclose()


@pytest.fixture
def route() -> str:
    return f"openai:gpt-audio:{secrets.token_hex(4)}"


async def as_tenant(tenant: str, call: Callable[[], Awaitable[T]]) -> T:
    """`call` in a task of its own, as a request of `tenant`'s runs."""

    async def run() -> T:
        calling_tenant.set(tenant)
        return await call()

    return await asyncio.create_task(run())


async def test_one_tenants_failures_close_the_route_to_it_alone(
    breaker: Breaker, route: str
) -> None:
    for _ in range(3):  # three requests the provider answers with 500
        await as_tenant("ws_attacker", lambda: breaker.failed(route))
    assert not await as_tenant("ws_attacker", lambda: breaker.allows(route))
    assert await as_tenant("ws_other", lambda: breaker.allows(route))


async def test_failures_from_several_tenants_close_the_route_to_all(
    breaker: Breaker, route: str
) -> None:
    for tenant in ("ws_a", "ws_b", "ws_c"):
        await as_tenant(tenant, lambda: breaker.failed(route))
    assert not await as_tenant("ws_d", lambda: breaker.allows(route))


async def test_two_tenants_are_not_enough(breaker: Breaker, route: str) -> None:
    for tenant in ("ws_a", "ws_b", "ws_a", "ws_b"):
        await as_tenant(tenant, lambda: breaker.failed(route))
    assert await as_tenant("ws_c", lambda: breaker.allows(route))


async def test_a_success_clears_the_route_but_not_another_tenants_own_count(
    breaker: Breaker, route: str
) -> None:
    for tenant in ("ws_a", "ws_a", "ws_a", "ws_b", "ws_c"):
        await as_tenant(tenant, lambda: breaker.failed(route))
    assert not await as_tenant("ws_d", lambda: breaker.allows(route))
    await as_tenant("ws_b", lambda: breaker.succeeded(route))
    assert await as_tenant("ws_d", lambda: breaker.allows(route))
    assert not await as_tenant("ws_a", lambda: breaker.allows(route))


async def test_the_failure_that_closes_the_route_to_all_says_so_once(
    breaker: Breaker, route: str
) -> None:
    # One tenant's own trip is not the route's; the third tenant's failure is, and only it.
    said = [await as_tenant("ws_a", lambda: breaker.failed(route)) for _ in range(3)]
    said += [await as_tenant(tenant, lambda: breaker.failed(route)) for tenant in ("ws_b", "ws_c")]
    said += [await as_tenant("ws_d", lambda: breaker.failed(route))]
    assert said == [False, False, False, False, True, False]


async def test_an_alerting_breaker_tells_the_operator_when_a_route_closes(
    breaker: Breaker, route: str
) -> None:
    opened: list[str] = []

    async def alert(closed: str) -> None:
        opened.append(closed)

    alerting = AlertingBreaker(breaker, alert)
    for tenant in ("ws_a", "ws_b", "ws_c", "ws_d"):
        await as_tenant(tenant, lambda: alerting.failed(route))
    assert opened == [route]
    assert not await as_tenant("ws_e", lambda: alerting.allows(route))
