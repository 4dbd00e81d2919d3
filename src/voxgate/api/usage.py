"""A workspace's own usage records, balance and keys; nothing of any other workspace."""

import base64
import csv
import io
import re
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response

from voxgate.api.auth import authenticate
from voxgate.api.bodies import parse_query
from voxgate.api.context import services_of
from voxgate.api.responses import JSONResponse
from voxgate.errors import InvalidRequestError, NotFoundError
from voxgate.money import format_usd
from voxgate.store.usage import USAGE_COLUMNS, UsageFilter
from voxgate.types import MicroUSD

# What the operator's provider bills is the operator's business (GET /admin/v1/margins), not
# the workspace's: its usage records show what it was charged, and why, without it.
OPERATOR_ONLY = frozenset({"provider_cost_micro_usd"})
WORKSPACE_COLUMNS = tuple(column for column in USAGE_COLUMNS if column not in OPERATOR_ONLY)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
UsageStatus = Literal["succeeded", "partial", "failed", "rejected"]


class TimeRange(BaseModel):
    """`since` and `until` query parameters: ISO 8601 times, UTC when no zone is given."""

    model_config = ConfigDict(extra="forbid")

    since: datetime | None = None
    until: datetime | None = None

    @field_validator("since", "until", mode="before")
    @classmethod
    def _iso_8601(cls, value: object) -> object:
        # Pydantic would also take a bare number as a Unix time; the API promises ISO 8601.
        if isinstance(value, str) and not ISO_DATE.match(value):
            raise ValueError("must be an ISO 8601 date-time, e.g. 2026-11-24T21:00:00Z")
        return value

    @field_validator("since", "until")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        # Stored times are UTC; a time without a zone is taken as UTC.
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class UsageQuery(TimeRange):
    model: str | None = None
    request_id: str | None = Field(default=None, max_length=64)
    key_id: str | None = Field(default=None, max_length=40)
    status: UsageStatus | None = None
    task: str | None = Field(default=None, max_length=20)
    limit: int = Field(default=100, ge=1, le=1000)
    after: str | None = Field(default=None, description="The cursor of the previous page.")
    format: str = Field(default="json", pattern="^(json|csv)$")

    def where(self) -> UsageFilter:
        return UsageFilter(
            since=self.since,
            until=self.until,
            model=self.model,
            request_id=self.request_id,
            key_id=self.key_id,
            status=self.status,
            task=self.task,
        )


async def list_usage(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    query = parse_query(request, UsageQuery)
    rows = await services.usage.page(
        principal.workspace_id,
        where=query.where(),
        before=decode_cursor(query.after),
        limit=query.limit,
    )
    if query.format == "csv":
        return Response(_csv(rows), media_type="text/csv; charset=utf-8")
    next_cursor = encode_cursor(rows[-1]) if len(rows) == query.limit else None
    body = {"object": "list", "data": [_public(row) for row in rows], "next": next_cursor}
    return JSONResponse(body)


async def get_usage(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    request_id = request.path_params["request_id"]
    row = await services.usage.get(principal.workspace_id, request_id)
    if row is None:
        raise NotFoundError(
            f"No usage record '{request_id}' in this workspace.", param="request_id"
        )
    return JSONResponse(_public(row))


async def get_balance(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    wallet = await services.ledger.wallet(principal.workspace_id)
    assert wallet is not None, "every workspace has a wallet"
    return JSONResponse(
        {
            "object": "balance",
            "workspace_id": principal.workspace_id,
            "balance_usd": format_usd(MicroUSD(wallet.balance_micro_usd)),
            "held_usd": format_usd(MicroUSD(wallet.held_micro_usd)),
            "available_usd": format_usd(MicroUSD(wallet.available_micro_usd)),
            "balance_micro_usd": wallet.balance_micro_usd,
            "held_micro_usd": wallet.held_micro_usd,
            "available_micro_usd": wallet.available_micro_usd,
        }
    )


async def list_keys(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    keys = await services.keys.list(principal.workspace_id)
    return JSONResponse({"object": "list", "data": [key_body(key) for key in keys]})


def key_body(key: Any) -> dict[str, Any]:
    return {
        "object": "api_key",
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
    }


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "usage_record",
        "cost_usd": format_usd(row["cost_micro_usd"]),
        **{column: row[column] for column in WORKSPACE_COLUMNS},
    }


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=WORKSPACE_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        arrays = {column: orjson.dumps(row[column]).decode() for column in ("attempts", "lines")}
        writer.writerow(row | arrays)
    return out.getvalue()


def encode_cursor(row: dict[str, Any]) -> str:
    raw = orjson.dumps([row["created_at"].isoformat(), row["request_id"]])
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        created_at, request_id = orjson.loads(base64.urlsafe_b64decode(cursor))
        return datetime.fromisoformat(created_at), str(request_id)
    except (ValueError, TypeError) as exc:
        raise InvalidRequestError("The cursor 'after' is not valid.", param="after") from exc
