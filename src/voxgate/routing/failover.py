"""Tries a request's attempts in order until one succeeds, within one deadline.

Connect errors, timeouts, 408, 409, 413, 429 and 5xx move on to the next credential or route
(a 413 to one that may take a larger upload); any other upstream answer is final. Only failures
that say something about the route's health count towards its circuit breaker: a 413 is about
the request. The first move is immediate (another key or route owes nothing
to the one that failed); later ones back off exponentially, capped, and a Retry-After is
honoured when the next attempt goes to the same provider, whose limits it describes.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from voxgate.billing.usage import Attempt
from voxgate.providers.errors import UpstreamError
from voxgate.routing.breaker import Breaker
from voxgate.routing.planner import PlannedAttempt

ResultT = TypeVar("ResultT")
# Failures that another route may not share, but that say nothing of this route's health.
REQUEST_SIZED_STATUSES = frozenset({413})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    deadline_seconds: float
    backoff_base_seconds: float = 0.05
    backoff_cap_seconds: float = 2.0

    def backoff(self, failures: int, retry_after: float | None) -> float:
        exponential = (
            0.0
            if failures < 2
            else min(
                self.backoff_cap_seconds, self.backoff_base_seconds * float(2 ** (failures - 2))
            )
        )
        return max(exponential, min(retry_after or 0.0, self.backoff_cap_seconds))


@dataclass(frozen=True, slots=True)
class Success(Generic[ResultT]):
    result: ResultT
    attempt: PlannedAttempt[Any]
    log: tuple[Attempt, ...]


class AttemptsFailed(Exception):
    """No attempt succeeded; `final` is set when an upstream answer must not be retried."""

    def __init__(self, log: tuple[Attempt, ...], last: UpstreamError | None, final: bool) -> None:
        super().__init__(str(last) if last else "no route was available")
        self.log = log
        self.last = last
        self.final = final


async def first_success(
    attempts: list[PlannedAttempt[Any]],
    run: Callable[[PlannedAttempt[Any]], Awaitable[ResultT]],
    policy: RetryPolicy,
    breaker: Breaker,
) -> Success[ResultT]:
    deadline = time.monotonic() + policy.deadline_seconds
    log: list[Attempt] = []
    last: UpstreamError | None = None
    for index, attempt in enumerate(attempts):
        if not await breaker.allows(attempt.label):
            log.append(_entry(attempt, "skipped", 0.0, "circuit open"))
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        started = time.monotonic()
        try:
            async with asyncio.timeout(remaining):
                result = await run(attempt)
        except (UpstreamError, TimeoutError) as exc:
            error = exc if isinstance(exc, UpstreamError) else _timed_out(attempt, deadline)
            log.append(_entry(attempt, str(error.status or "error"), started, error.message))
            last = error
            if not error.retriable:
                raise AttemptsFailed(tuple(log), error, final=True) from exc
            if error.status not in REQUEST_SIZED_STATUSES:
                await breaker.failed(attempt.label)
            following = attempts[index + 1] if index + 1 < len(attempts) else None
            if following is None:
                break
            failures = sum(1 for entry in log if entry.status != "skipped")
            same_provider = following.route.provider == attempt.route.provider
            pause = policy.backoff(failures, error.retry_after_seconds if same_provider else None)
            await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
            continue
        await breaker.succeeded(attempt.label)
        log.append(_entry(attempt, "ok", started))
        return Success(result, attempt, tuple(log))
    raise AttemptsFailed(tuple(log), last, final=False)


def _timed_out(attempt: PlannedAttempt[Any], deadline: float) -> UpstreamError:
    message = "the request's deadline passed" if time.monotonic() >= deadline else "timed out"
    return UpstreamError(attempt.route.provider, message)


def _entry(
    attempt: PlannedAttempt[Any], status: str, started: float, error: str | None = None
) -> Attempt:
    latency = round((time.monotonic() - started) * 1000) if started else 0
    return Attempt(attempt.label, attempt.route.provider, status, latency, error)
