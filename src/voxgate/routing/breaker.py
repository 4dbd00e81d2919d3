"""Circuit breakers: a route that keeps failing cools down, then one probe may try it again."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


class Breaker(Protocol):
    async def allows(self, route: str) -> bool: ...

    async def failed(self, route: str) -> None: ...

    async def succeeded(self, route: str) -> None: ...


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0


class MemoryBreaker:
    def __init__(
        self,
        *,
        threshold: int,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._routes: dict[str, _State] = {}

    async def allows(self, route: str) -> bool:
        state = self._routes.get(route)
        if state is None or state.failures < self._threshold:
            return True
        if self._clock() < state.open_until:
            return False
        # Half open: this caller probes; the others wait for its verdict.
        state.open_until = self._clock() + self._cooldown
        return True

    async def failed(self, route: str) -> None:
        state = self._routes.setdefault(route, _State())
        state.failures += 1
        if state.failures >= self._threshold:
            state.open_until = self._clock() + self._cooldown

    async def succeeded(self, route: str) -> None:
        self._routes.pop(route, None)


class RedisBreaker:
    """The same breaker shared by every process: failures counted, and a cooling key, in Redis."""

    def __init__(self, redis: Redis, *, threshold: int, cooldown_seconds: float) -> None:
        self._redis = redis
        self._threshold = threshold
        self._cooldown_ms = max(1, int(cooldown_seconds * 1000))

    async def allows(self, route: str) -> bool:
        failures = int(await self._redis.get(f"voxgate:breaker:failures:{route}") or 0)
        if failures < self._threshold:
            return True
        # SET NX: only one process wins the probe of a cooled-down route.
        return bool(
            await self._redis.set(
                f"voxgate:breaker:cooling:{route}", 1, nx=True, px=self._cooldown_ms
            )
        )

    async def failed(self, route: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(f"voxgate:breaker:failures:{route}")
            pipe.pexpire(f"voxgate:breaker:failures:{route}", self._cooldown_ms * 10)
            pipe.set(f"voxgate:breaker:cooling:{route}", 1, px=self._cooldown_ms)
            await pipe.execute()

    async def succeeded(self, route: str) -> None:
        await self._redis.delete(
            f"voxgate:breaker:failures:{route}", f"voxgate:breaker:cooling:{route}"
        )
