"""Faults the simulator injects: by credential (`fail-<fault>` keys) or queued per credential.

A fault is one of: an HTTP status (400, 401, 422, 429, 500, 503, ...), `timeout` (answers after
a long delay), `reset` (drops the connection), `cut` (a body that stops midway; a stream after its first
chunk), `malformed`
(a 200 whose body is not what the protocol promises), each with optional latency and
Retry-After. `paced` is not a failure: the answer is normal, streamed at the fault's pace (see
`voxgate.simulator.pacing`). `unstreamed` answers whole whatever the request asked.

A realtime session takes `drop`, `stall` and `server_error` after `after_events` events (see
`voxgate.simulator.realtime`); a Gemini Live session takes `go_away` after `after_events`
messages, and `long` (its answers run long; see `voxgate.simulator.gemini_live`).

`uncapped` is a dishonest provider: it ignores the bounds a request sets on its answer. Chat
completions answer past `max_completion_tokens` (the whole reply, spoken in full), Gemini
speech past `generationConfig.maxOutputTokens`, and OpenAI speech says its text twice, so the
answer is longer than the text asked for. An honest simulator (no fault) cuts each answer at
its bound, as the real APIs do (`finish_reason: "length"`, `MAX_TOKENS`).
"""

import random
from collections import defaultdict, deque

from pydantic import BaseModel, ConfigDict, Field

FAIL_PREFIX = "fail-"


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        description=(
            "An HTTP status as text, or timeout, reset, cut, malformed, paced, unstreamed, "
            "uncapped."
        )
    )
    retry_after_seconds: float | None = None
    message: str | None = Field(
        default=None, description="An HTTP status's error text, as the provider words it."
    )
    latency_ms: int = 0
    first_chunk_ms: int = Field(default=0, ge=0, description="paced: before the first chunk.")
    chunk_interval_ms: int = Field(default=0, ge=0, description="paced: between chunks.")
    after_events: int = Field(
        default=0,
        ge=0,
        description="drop, stall, server_error, go_away (realtime): events sent first.",
    )

    @property
    def status(self) -> int | None:
        return int(self.kind) if self.kind.isdigit() else None


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential: str
    faults: list[Fault]


class Chaos(BaseModel):
    """Faults at random on every credential: each request fails with probability `rate`, with
    one of `kinds` (429s carry Retry-After). Seeded, so a soak run can be replayed."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(ge=0, le=1)
    kinds: list[str] = Field(min_length=1)
    seed: int = 0
    retry_after_seconds: float = 0.05


class FaultBook:
    """Queued faults per credential; each request takes the next one, then all is normal —
    or chaos, when it is on."""

    def __init__(self) -> None:
        self._queued: defaultdict[str, deque[Fault]] = defaultdict(deque)
        self._chaos: Chaos | None = None
        self._random = random.Random()

    def add(self, plan: FaultPlan) -> None:
        self._queued[plan.credential].extend(plan.faults)

    def set_chaos(self, chaos: Chaos) -> None:
        self._chaos = chaos
        self._random = random.Random(chaos.seed)

    def clear(self) -> None:
        self._queued.clear()
        self._chaos = None

    def next_for(self, credential: str) -> Fault | None:
        if credential.startswith(FAIL_PREFIX):
            return _from_key(credential[len(FAIL_PREFIX) :])
        queue = self._queued.get(credential)
        if queue:
            return queue.popleft()
        return self._random_fault()

    def _random_fault(self) -> Fault | None:
        chaos = self._chaos
        if chaos is None or self._random.random() >= chaos.rate:
            return None
        kind = self._random.choice(chaos.kinds)
        retry_after = chaos.retry_after_seconds if kind == "429" else None
        return Fault(kind=kind, retry_after_seconds=retry_after)


def _from_key(spec: str) -> Fault:
    """`fail-429-retry-1` → 429 with Retry-After 1; `fail-timeout` → timeout."""
    kind, _, rest = spec.partition("-retry-")
    return Fault(kind=kind, retry_after_seconds=float(rest) if rest else None)
