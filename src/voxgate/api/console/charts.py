"""Usage over time: records summed per UTC day, and the geometry of inline SVG charts of them
(the template draws what is computed here; no script is needed to see a chart)."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

Label = Callable[[float], str]

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 88, 8, 14, 30
# The top of an axis is the least of these, times a power of ten, that the data fits under.
NICE_STEPS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
PALETTE_SIZE = 8
ERROR_STATUSES = frozenset({"failed", "rejected", "partial"})


@dataclass
class Day:
    day: date
    spend_by_model: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    errors: int = 0
    failovers: int = 0
    audio_milliseconds: int = 0
    latencies: list[int] = field(default_factory=list)

    @property
    def audio_minutes(self) -> float:
        return self.audio_milliseconds / 60_000

    @property
    def spend_micro_usd(self) -> int:
        return sum(self.spend_by_model.values())

    @property
    def p50_ms(self) -> int | None:
        return percentile(self.latencies, 50)

    @property
    def p95_ms(self) -> int | None:
        return percentile(self.latencies, 95)


def percentile(values: Sequence[int], rank: int) -> int | None:
    """Nearest-rank percentile: a latency some request really had."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def per_day(rows: Sequence[dict[str, Any]], first: date, last: date) -> list[Day]:
    """One entry per UTC day from `first` to `last`, days without records included."""
    days = {first + timedelta(n): Day(first + timedelta(n)) for n in range((last - first).days + 1)}
    for row in rows:
        created: datetime = row["created_at"]
        entry = days.get(created.astimezone(UTC).date())
        if entry is None:
            continue
        entry.requests += 1
        entry.spend_by_model[row["model"]] = (
            entry.spend_by_model.get(row["model"], 0) + row["charged_micro_usd"]
        )
        entry.audio_milliseconds += row["audio_milliseconds"]
        entry.latencies.append(row["latency_ms"])
        entry.errors += row["status"] in ERROR_STATUSES
        entry.failovers += len(row["attempts"] or ()) > 1
    return list(days.values())


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass(frozen=True)
class Line:
    series: int
    points: str
    label: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    name: str
    total: str
    legend: tuple[str, ...]
    bars: tuple[Bar, ...] = ()
    lines: tuple[Line, ...] = ()
    y_ticks: tuple[Tick, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = HEIGHT - BOTTOM


def stacked_bars(
    name: str,
    days: Sequence[Day],
    legend: Sequence[str],
    values: Sequence[Sequence[float]],
    label: Label,
    total: str,
) -> Chart:
    """Bars per day, stacked by series; values[d][s] is day d's amount of series s."""
    top = nice_top(max((sum(day) for day in values), default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    bars = []
    for index, (day, amounts) in enumerate(zip(days, values, strict=True)):
        base = float(HEIGHT - BOTTOM)
        for series, amount in enumerate(amounts):
            if amount <= 0:
                continue
            height = amount / top * (HEIGHT - TOP - BOTTOM)
            base -= height
            title = f"{day.day.isoformat()} · {legend[series]}: {label(amount)}"
            bars.append(
                Bar(LEFT + index * slot + slot * 0.15, base, slot * 0.7, height, series, title)
            )
    return Chart(
        name,
        total,
        tuple(legend),
        bars=tuple(bars),
        y_ticks=_y_ticks(top, label),
        x_ticks=_x_ticks(days, slot),
    )


def lines(
    name: str,
    days: Sequence[Day],
    legend: Sequence[str],
    values: Sequence[Sequence[float | None]],
    label: Label,
    total: str,
) -> Chart:
    """One line per series across the days that have a value."""
    top = nice_top(max((v for day in values for v in day if v is not None), default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    drawn = []
    for series, name_of_series in enumerate(legend):
        points = [
            f"{LEFT + index * slot + slot / 2:.1f},"
            f"{HEIGHT - BOTTOM - value / top * (HEIGHT - TOP - BOTTOM):.1f}"
            for index, day in enumerate(values)
            if (value := day[series]) is not None
        ]
        if points:
            drawn.append(Line(series, " ".join(points), name_of_series))
    return Chart(
        name,
        total,
        tuple(legend),
        lines=tuple(drawn),
        y_ticks=_y_ticks(top, label),
        x_ticks=_x_ticks(days, slot),
    )


def nice_top(largest: float) -> float:
    """A round number at or above the largest value, so that the axis reads in round steps;
    counts get an even top, so that the middle tick is a whole number too."""
    if largest <= 0:
        return 2
    scale = 10.0 ** math.floor(math.log10(largest))
    top = next(step * scale for step in NICE_STEPS if step * scale >= largest)
    return top if top < 1 else math.ceil(top / 2) * 2


def _y_ticks(top: float, label: Label) -> tuple[Tick, ...]:
    return tuple(
        Tick(HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM), label(top * share))
        for share in (0, 0.5, 1)
    )


def _x_ticks(days: Sequence[Day], slot: float) -> tuple[Tick, ...]:
    every = max(1, math.ceil(len(days) / 7))
    return tuple(
        Tick(LEFT + index * slot + slot / 2, day.day.strftime("%m-%d"))
        for index, day in enumerate(days)
        if index % every == 0
    )
