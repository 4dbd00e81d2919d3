"""Faults the simulator injects: by credential (`fail-<fault>` keys) or queued per credential.

A fault is one of: an HTTP status (400, 401, 422, 429, 500, 503, ...), `timeout` (answers after
a long delay), `reset` (drops the connection), `cut` (a body that stops midway), `malformed`
(a 200 whose body is not what the protocol promises), each with optional latency and
Retry-After.
"""

from collections import defaultdict, deque

from pydantic import BaseModel, ConfigDict, Field

FAIL_PREFIX = "fail-"


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="An HTTP status as text, or timeout, reset, cut, malformed.")
    retry_after_seconds: float | None = None
    latency_ms: int = 0

    @property
    def status(self) -> int | None:
        return int(self.kind) if self.kind.isdigit() else None


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential: str
    faults: list[Fault]


class FaultBook:
    """Queued faults per credential; each request takes the next one, then all is normal."""

    def __init__(self) -> None:
        self._queued: defaultdict[str, deque[Fault]] = defaultdict(deque)

    def add(self, plan: FaultPlan) -> None:
        self._queued[plan.credential].extend(plan.faults)

    def clear(self) -> None:
        self._queued.clear()

    def next_for(self, credential: str) -> Fault | None:
        if credential.startswith(FAIL_PREFIX):
            return _from_key(credential[len(FAIL_PREFIX) :])
        queue = self._queued.get(credential)
        return queue.popleft() if queue else None


def _from_key(spec: str) -> Fault:
    """`fail-429-retry-1` → 429 with Retry-After 1; `fail-timeout` → timeout."""
    kind, _, rest = spec.partition("-retry-")
    return Fault(kind=kind, retry_after_seconds=float(rest) if rest else None)
