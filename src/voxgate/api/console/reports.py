"""What the console reads and never changes: usage over time, the request log, realtime
sessions, the operator's margins and the catalog."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from starlette.responses import Response

from voxgate.api.bodies import parse
from voxgate.api.console.charts import Chart, Day, lines, per_day, stacked_bars
from voxgate.api.console.pages import operator_only, visible_workspace
from voxgate.api.console.render import Page
from voxgate.api.usage import UsageQuery, decode_cursor, encode_cursor
from voxgate.errors import InvalidRequestError
from voxgate.money import MICRO, format_usd
from voxgate.store.usage import UsageFilter
from voxgate.types import MicroUSD

RANGES = (7, 30, 90)
DEFAULT_RANGE = 7
# A chart reads at most this many records; past it, the page says the range was cut short.
MAX_CHART_RECORDS = 50_000
MOST_MODELS_DRAWN = 7
LOG_PAGE = 50
LOG_FILTERS = ("request_id", "key_id", "model", "status", "since", "until")


def _range(page: Page) -> tuple[int, datetime, datetime]:
    chosen = page.request.query_params.get("days", str(DEFAULT_RANGE))
    days = int(chosen) if chosen.isdigit() and int(chosen) in RANGES else DEFAULT_RANGE
    tomorrow = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    until = tomorrow + timedelta(days=1)
    return days, until - timedelta(days=days), until


async def usage(page: Page) -> Response:
    record = await visible_workspace(page)
    days, since, until = _range(page)
    rows = await page.services.usage.series(record.id, since, until, MAX_CHART_RECORDS)
    daily = per_day(rows, since.date(), (until - timedelta(days=1)).date())
    return page.render(
        "usage.html",
        workspace=record,
        days=days,
        ranges=RANGES,
        daily=daily,
        charts=_charts(page, daily),
        truncated=len(rows) == MAX_CHART_RECORDS,
    )


def _charts(page: Page, daily: list[Day]) -> list[Chart]:
    t = page.t
    spend = _models_by_spend(daily)
    return [
        stacked_bars(
            "spend",
            daily,
            spend,
            [_spend_of(day, spend) for day in daily],
            _usd_tick,
            _usd(sum(day.spend_micro_usd for day in daily)),
        ),
        stacked_bars(
            "requests",
            daily,
            [t["succeeded"], t["errors"]],
            [[day.requests - day.errors, day.errors] for day in daily],
            _count,
            str(sum(day.requests for day in daily)),
        ),
        stacked_bars(
            "audio",
            daily,
            [t["audio_minutes"]],
            [[day.audio_minutes] for day in daily],
            lambda minutes: f"{minutes:.2f}",
            f"{sum(day.audio_minutes for day in daily):.2f}",
        ),
        lines(
            "latency",
            daily,
            ["p50", "p95"],
            [[day.p50_ms, day.p95_ms] for day in daily],
            lambda ms: f"{ms:.0f} ms",
            "",
        ),
        lines(
            "errors",
            daily,
            [t["errors"], t["failovers"]],
            [[day.errors, day.failovers] for day in daily],
            _count,
            str(sum(day.errors for day in daily)),
        ),
    ]


def _models_by_spend(daily: list[Day]) -> list[str]:
    """The models drawn each in its own colour, dearest first; the rest are drawn as one."""
    totals: dict[str, int] = {}
    for day in daily:
        for model, spent in day.spend_by_model.items():
            totals[model] = totals.get(model, 0) + spent
    ranked = sorted(totals, key=lambda model: (-totals[model], model))
    if len(ranked) > MOST_MODELS_DRAWN:
        return [*ranked[: MOST_MODELS_DRAWN - 1], "…"]
    return ranked


def _spend_of(day: Day, models: list[str]) -> list[float]:
    drawn = [day.spend_by_model.get(model, 0) for model in models if model != "…"]
    if models and models[-1] == "…":
        drawn.append(day.spend_micro_usd - sum(drawn))
    return [float(amount) for amount in drawn]


def _usd(micro: float) -> str:
    return format_usd(MicroUSD(round(micro)))


def _usd_tick(micro: float) -> str:
    """An axis label: dollars without trailing zeros, so that it fits beside the axis."""
    return f"{Decimal(round(micro)) / MICRO:f}".rstrip("0").rstrip(".") or "0"


def _count(value: float) -> str:
    return f"{value:.0f}"


async def request_log(page: Page) -> Response:
    record = await visible_workspace(page)
    params = page.request.query_params
    filters = {name: params[name].strip() for name in LOG_FILTERS if params.get(name, "").strip()}
    keys = await page.services.keys.list(record.id)
    rows: list[dict[str, Any]] = []
    error = next_cursor = None
    try:
        query = parse(UsageQuery, filters | {"limit": str(LOG_PAGE)})
        rows = await page.services.usage.page(
            record.id,
            where=query.where(),
            before=decode_cursor(params.get("after")),
            limit=LOG_PAGE,
        )
    except InvalidRequestError as exc:
        error = exc.message
    if len(rows) == LOG_PAGE:
        next_cursor = encode_cursor(rows[-1])
    return page.render(
        "requests.html",
        status_code=400 if error else 200,
        workspace=record,
        rows=rows,
        filters=filters,
        keys=keys,
        key_names={key.id: key.name for key in keys},
        models=sorted(row.id for row in page.services.catalog),
        statuses=("succeeded", "partial", "failed", "rejected"),
        next_cursor=next_cursor,
        error=error,
    )


async def realtime(page: Page) -> Response:
    """Live sessions are the open holds of realtime sessions; past ones, their records."""
    record = await visible_workspace(page)
    live = [hold for hold in await page.services.usage.open_holds(record.id) if hold["realtime"]]
    past = await page.services.usage.page(
        record.id, where=UsageFilter(task="realtime"), limit=LOG_PAGE
    )
    keys = {key.id: key.name for key in await page.services.keys.list(record.id)}
    return page.render("realtime.html", workspace=record, live=live, past=past, key_names=keys)


async def margins(page: Page) -> Response:
    operator_only(page)
    days, since, until = _range(page)
    rows = await page.services.usage.margins(since=since, until=until)
    return page.render("margins.html", rows=rows, days=days, ranges=RANGES)


async def catalog(page: Page) -> Response:
    rows = sorted(page.services.catalog, key=lambda row: row.id)
    return page.render("catalog.html", models=rows)
