"""The console's pure parts: per-day sums and percentiles of usage records, round axis tops,
and session cookies that a changed byte, another secret or time undoes."""

import time
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from voxgate.api.console.charts import nice_top, per_day, percentile
from voxgate.api.console.session import Session, csrf_token, decode, encode, valid_csrf

KEY = b"k" * 32


def _row(day: int, model: str, **fields: Any) -> dict[str, Any]:
    return {
        "created_at": datetime(2026, 12, day, 23, 59, tzinfo=UTC),
        "model": model,
        "status": "succeeded",
        "charged_micro_usd": 10,
        "audio_milliseconds": 30_000,
        "latency_ms": 100,
        "attempts": [{}],
        **fields,
    }


def test_records_are_summed_per_utc_day_with_empty_days_kept() -> None:
    rows = [
        _row(1, "a"),
        _row(1, "b", charged_micro_usd=5, status="failed", attempts=[{}, {}]),
        _row(3, "a", latency_ms=300),
    ]
    days = per_day(rows, date(2026, 12, 1), date(2026, 12, 3))
    assert [d.requests for d in days] == [2, 0, 1]
    assert days[0].spend_by_model == {"a": 10, "b": 5}
    assert (days[0].errors, days[0].failovers, days[0].audio_minutes) == (1, 1, 1.0)
    assert days[1].p50_ms is None
    assert days[2].p95_ms == 300


def test_percentiles_are_latencies_some_request_had() -> None:
    latencies = list(range(1, 101))
    assert (percentile(latencies, 50), percentile(latencies, 95)) == (50, 95)
    assert percentile([7], 95) == 7
    assert percentile([], 50) is None


@pytest.mark.parametrize(
    ("largest", "top"), [(0, 2), (1, 2), (7, 8), (13, 16), (90, 100), (2801, 3000), (0.12, 0.12)]
)
def test_an_axis_top_is_round_and_holds_the_largest_value(largest: float, top: float) -> None:
    assert nice_top(largest) == pytest.approx(top)


def test_a_session_cookie_is_undone_by_a_changed_byte_another_key_or_time() -> None:
    session = Session("workspace", "ws_1", "key_1", int(time.time()) + 60, "nonce")
    cookie = encode(KEY, session)
    assert decode(KEY, cookie) == session
    body, _, signature = cookie.partition(".")
    forged = encode(KEY, replace(session, workspace_id="ws_2")).partition(".")[0]
    assert decode(KEY, f"{forged}.{signature}") is None
    assert decode(b"x" * 32, cookie) is None
    changed = "A" if signature[-1] != "A" else "B"
    assert decode(KEY, f"{body}.{signature[:-1]}{changed}") is None
    assert decode(KEY, encode(KEY, replace(session, expires=int(time.time()) - 1))) is None


def test_the_csrf_token_is_bound_to_its_session() -> None:
    session = Session("operator", None, None, int(time.time()) + 60, "one")
    token = csrf_token(KEY, session)
    assert valid_csrf(KEY, session, token)
    assert not valid_csrf(KEY, replace(session, nonce="two"), token)
    assert not valid_csrf(KEY, session, "")
