"""One task's work, as the pipeline sees it: plan, worst case, run on an attempt, render."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from voxgate.billing.pricing import Metered
from voxgate.billing.usage import Attempt
from voxgate.money import format_usd
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.types import MicroUSD, Task


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a successful attempt produced: the unified `data` object, what it consumed, and
    the provider's whole result for endpoints that show more of it."""

    data: dict[str, Any]
    metered: Metered
    result: Any = None
    # The provider reported no usage, so `metered` is the gateway's own measurement (never $0).
    estimated: bool = False
    # The provider's reported usage and the gateway's measurement of the audio disagree.
    usage_mismatch: bool = False
    # The provider answered past the cap it was sent: `metered` is cut at the cap, and this is
    # what the provider used (and bills).
    overrun: Metered | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """What an attempt delivered, as it is billed."""

    metered: Metered
    attempt: PlannedAttempt[Any]
    log: tuple[Attempt, ...]
    # The provider reported no usage: `metered` is the gateway's own measurement.
    estimated: bool = False
    usage_mismatch: bool = False
    # The provider answered past the cap it was sent: `metered` is cut at the cap, and this is
    # what the provider used (and bills).
    overrun: Metered | None = None


@dataclass(frozen=True, slots=True)
class JobOptions:
    """What an OpenAI-style endpoint asks for beyond the unified fields."""

    word_timestamps: bool = False
    # OpenAI's own transcription parameters as the client sent them (repeated names such as
    # `include[]` as repeated pairs), for the routes that take them.
    params: tuple[tuple[str, str], ...] = ()


DEFAULT_OPTIONS = JobOptions()


class Job(Protocol):
    @property
    def task(self) -> Task: ...

    def plan(self, planner: RoutePlanner) -> list[PlannedAttempt[Any]]: ...

    def worst_case(self) -> list[Metered]:
        """The largest consumption this request could bill, one per way it could be billed.

        The pipeline holds its cost, and every upstream request the job makes carries caps
        derived from it (output tokens, characters, audio seconds), so that a provider keeping
        to the caps cannot cost more than is held.
        """
        ...

    async def run(self, attempt: PlannedAttempt[Any]) -> Outcome: ...


def usage_body(metered: Metered, cost: MicroUSD) -> dict[str, Any]:
    minutes = (Decimal(metered.audio_milliseconds) / 60_000).quantize(Decimal("0.000001"))
    return {
        "estimated_audio_minutes": str(minutes),
        "audio_seconds": metered.audio_milliseconds / 1000,
        "input_characters": metered.input_characters,
        "input_tokens": metered.input_text_tokens + metered.input_audio_tokens,
        "output_tokens": metered.output_text_tokens + metered.output_audio_tokens,
        "cost_usd": format_usd(cost),
        "cost_micro_usd": cost,
    }
