"""Circuit breakers: a route that keeps failing cools down, then one probe may try it again.

A failure is counted twice: for the workspace whose request failed, and for the route.

- A workspace's own failures in a row (`threshold`) close the route to that workspace alone.
  Its requests may be what the provider fails on (a body that makes it answer 500), and one
  tenant's requests must not close a model to every other tenant: three 500s once did.
- The route closes to everyone only when its failures in a row (`threshold`) came from at
  least `tenants` workspaces: an upstream fault, not one tenant's requests. With one
  workspace (a single-tenant install) its own breaker does the same job.

Any success on the route clears the route's count (the provider works) and the succeeding
workspace's own; another workspace's count stands until it succeeds or cools down.

The workspace is the one the request runs for, set by the pipeline when it admits a request
(`calling_tenant`); calls outside a request count as one workspace of their own.
"""

import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

# Set for each request's task (and inherited by the tasks it starts), never reset: a request's
# task ends with it.
calling_tenant: ContextVar[str] = ContextVar("calling_tenant", default="")
DEFAULT_TENANTS = 3


logger = logging.getLogger("voxgate.routing")


class Breaker(Protocol):
    async def allows(self, route: str) -> bool: ...

    async def failed(self, route: str) -> bool:
        """Count a failure; True when it closed the route to everyone."""
        ...

    async def succeeded(self, route: str) -> None: ...


@dataclass
class _State:
    failures: int = 0
    tenants: set[str] = field(default_factory=set)
    open_until: float = 0.0


class MemoryBreaker:
    def __init__(
        self,
        *,
        threshold: int,
        cooldown_seconds: float,
        tenants: int = DEFAULT_TENANTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._cooldown = cooldown_seconds
        self._tenants = tenants
        self._clock = clock
        self._routes: dict[str, _State] = {}
        self._tenant_routes: dict[tuple[str, str], _State] = {}

    async def allows(self, route: str) -> bool:
        # The workspace's own breaker first: a probe it refuses does not spend the route's.
        own = self._tenant_routes.get((route, calling_tenant.get()))
        return self._admits(own, 1) and self._admits(self._routes.get(route), self._tenants)

    async def failed(self, route: str) -> bool:
        tenant = calling_tenant.get()
        opened = False
        for state, needed in (
            (self._tenant_routes.setdefault((route, tenant), _State()), 1),
            (self._routes.setdefault(route, _State()), self._tenants),
        ):
            was_tripped = self._tripped(state, needed)
            state.failures += 1
            state.tenants.add(tenant)
            if self._tripped(state, needed):
                state.open_until = self._clock() + self._cooldown
                opened = needed == self._tenants and not was_tripped
        return opened

    async def succeeded(self, route: str) -> None:
        self._routes.pop(route, None)
        self._tenant_routes.pop((route, calling_tenant.get()), None)

    def _admits(self, state: _State | None, needed: int) -> bool:
        if state is None or not self._tripped(state, needed):
            return True
        if self._clock() < state.open_until:
            return False
        # Half open: this caller probes; the others wait for its verdict.
        state.open_until = self._clock() + self._cooldown
        return True

    def _tripped(self, state: _State, needed: int) -> bool:
        return state.failures >= self._threshold and len(state.tenants) >= needed


class RedisBreaker:
    """The same breaker shared by every process: for each scope (the route, and the route for
    one workspace) its failures, the workspaces they came from and a cooling key, in Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        threshold: int,
        cooldown_seconds: float,
        tenants: int = DEFAULT_TENANTS,
    ) -> None:
        self._redis = redis
        self._threshold = threshold
        self._cooldown_ms = max(1, int(cooldown_seconds * 1000))
        self._tenants = tenants

    async def allows(self, route: str) -> bool:
        own = _tenant_scope(route, calling_tenant.get())
        return await self._admits(own, 1) and await self._admits(route, self._tenants)

    async def failed(self, route: str) -> bool:
        tenant = calling_tenant.get()
        async with self._redis.pipeline(transaction=True) as pipe:
            for scope in (route, _tenant_scope(route, tenant)):
                # Counts fade after ten cooldowns without a failure.
                pipe.incr(f"voxgate:breaker:failures:{scope}")
                pipe.pexpire(f"voxgate:breaker:failures:{scope}", self._cooldown_ms * 10)
                pipe.sadd(f"voxgate:breaker:tenants:{scope}", tenant)
                pipe.pexpire(f"voxgate:breaker:tenants:{scope}", self._cooldown_ms * 10)
                pipe.set(f"voxgate:breaker:cooling:{scope}", 1, px=self._cooldown_ms)
            pipe.scard(f"voxgate:breaker:tenants:{route}")
            replies = await pipe.execute()
        failures, added, tenants = int(replies[0]), int(replies[2]), int(replies[-1])
        # The route's own scope came first: closed to everyone by this very failure.
        now = failures >= self._threshold and tenants >= self._tenants
        before = failures - 1 >= self._threshold and tenants - added >= self._tenants
        return now and not before

    async def succeeded(self, route: str) -> None:
        await self._redis.delete(
            *(
                f"voxgate:breaker:{part}:{scope}"
                for scope in (route, _tenant_scope(route, calling_tenant.get()))
                for part in ("failures", "tenants", "cooling")
            )
        )

    async def _admits(self, scope: str, needed: int) -> bool:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(f"voxgate:breaker:failures:{scope}")
            pipe.scard(f"voxgate:breaker:tenants:{scope}")
            failures, tenants = await pipe.execute()
        if int(failures or 0) < self._threshold or int(tenants) < needed:
            return True
        # SET NX: only one process wins the probe of a cooled-down route.
        return bool(
            await self._redis.set(
                f"voxgate:breaker:cooling:{scope}", 1, nx=True, px=self._cooldown_ms
            )
        )


def _tenant_scope(route: str, tenant: str) -> str:
    return f"{route}@workspace:{tenant}"


class AlertingBreaker:
    """A breaker that tells `on_open` when a route closes to everyone (an operator's alert)."""

    def __init__(self, breaker: Breaker, on_open: Callable[[str], Awaitable[None]]) -> None:
        self._breaker = breaker
        self._on_open = on_open

    async def allows(self, route: str) -> bool:
        return await self._breaker.allows(route)

    async def failed(self, route: str) -> bool:
        opened = await self._breaker.failed(route)
        if opened:
            try:
                await self._on_open(route)
            except Exception:  # an alert that cannot be queued must not fail the request
                logger.exception("queueing the breaker alert for %s failed", route)
        return opened

    async def succeeded(self, route: str) -> None:
        await self._breaker.succeeded(route)
