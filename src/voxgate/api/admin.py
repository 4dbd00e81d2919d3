"""The admin API (/admin/v1): workspaces, credit, keys, balances and usage, behind one token."""

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from voxgate.api.bodies import parse_body, parse_query
from voxgate.api.context import services_of
from voxgate.api.responses import JSONResponse
from voxgate.api.usage import TimeRange, key_body
from voxgate.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from voxgate.money import MICRO, format_usd
from voxgate.services import Services
from voxgate.store.keys import SessionCapLimits
from voxgate.store.workspaces import WorkspaceNameTaken, WorkspaceRecord
from voxgate.types import MicroUSD

# Bounds that keep every amount inside the database's 64-bit integer micro-dollars.
MAX_USD = Decimal(1_000_000_000)
MAX_COUNT = 1_000_000_000
BEARER = "bearer "


class NewWorkspace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    credit_usd: Decimal = Field(default=Decimal(0), ge=0, le=MAX_USD, decimal_places=6)


class WorkspaceSettings(BaseModel):
    """A workspace's settings to change; one left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    speech_cache: bool | None = Field(
        default=None,
        description="Answer a speech request the workspace asked before from the speech "
        "cache, at the cache price, without calling a provider.",
    )


class CreditChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_usd: Decimal = Field(
        ge=-MAX_USD, le=MAX_USD, decimal_places=6, description="Positive adds, negative removes."
    )
    reason: str = Field(min_length=1, max_length=500)


class RealtimeCaps(BaseModel):
    """A key's realtime cost caps: what one session, and one response in it, may cost."""

    max_session_cost_usd: Decimal | None = Field(default=None, ge=0, le=MAX_USD, decimal_places=6)
    max_response_cost_usd: Decimal | None = Field(default=None, ge=0, le=MAX_USD, decimal_places=6)
    cap_policy: Literal["trim", "refuse"] | None = Field(
        default=None,
        description="What a response past a cap gets: refused, or run with the oldest turns "
        "dropped; none is the gateway's VOXGATE_REALTIME_CAP_POLICY.",
    )

    def limits(self) -> SessionCapLimits:
        session, response = self.max_session_cost_usd, self.max_response_cost_usd
        return SessionCapLimits(
            None if session is None else _micro(session),
            None if response is None else _micro(response),
            self.cap_policy,
        )


class NewKey(RealtimeCaps):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    expires_at: datetime | None = None
    spend_limit_usd: Decimal | None = Field(default=None, ge=0, le=MAX_USD, decimal_places=6)
    rpm_limit: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    concurrency_limit: int | None = Field(default=None, ge=1, le=MAX_COUNT)


async def create_workspace(request: Request) -> Response:
    services = await operator_services(request)
    body = await parse_body(request, NewWorkspace)
    try:
        workspace = await services.workspaces.create(
            body.name, opening_credit=_micro(body.credit_usd)
        )
    except WorkspaceNameTaken as exc:
        raise ConflictError(f"A workspace named '{body.name}' exists.", param="name") from exc
    return JSONResponse(await _workspace_body(services, workspace), status_code=201)


async def list_workspaces(request: Request) -> Response:
    scope = await admin_scope(request)
    services = scope.services
    workspaces = [
        workspace
        for workspace in await services.workspaces.list()
        if scope.workspace_id in (None, workspace.id)
    ]
    return JSONResponse(
        {"object": "list", "data": [await _workspace_body(services, w) for w in workspaces]}
    )


async def one_workspace(request: Request) -> Response:
    """GET: the workspace; PATCH: change its settings (its operator or its owner)."""
    scope = await admin_scope(request)
    workspace = await workspace_of(request, scope)
    if request.method == "PATCH":
        body = await parse_body(request, WorkspaceSettings)
        if body.speech_cache is not None:
            await scope.services.set_speech_cache(workspace.id, body.speech_cache)
            workspace = replace(workspace, speech_cache=body.speech_cache)
    return JSONResponse(await _workspace_body(scope.services, workspace))


async def change_credit(request: Request) -> Response:
    services = await operator_services(request)
    workspace = await workspace_of(request, AdminScope(services, None))
    body = await parse_body(request, CreditChange)
    amount = _micro(body.amount_usd)
    if amount == 0:
        raise InvalidRequestError("The amount must not be zero.", param="amount_usd")
    if amount > 0:
        await services.ledger.credit(workspace.id, amount, body.reason)
    else:
        await services.ledger.debit(workspace.id, MicroUSD(-amount), body.reason)
    return JSONResponse(await _workspace_body(services, workspace))


async def create_key(request: Request) -> Response:
    scope = await admin_scope(request)
    services = scope.services
    workspace = await workspace_of(request, scope)
    body = await parse_body(request, NewKey)
    record, secret = await services.keys.create_key(
        workspace.id,
        body.name,
        expires_at=body.expires_at,
        spend_limit_micro_usd=_micro(body.spend_limit_usd) if body.spend_limit_usd else None,
        rpm_limit=body.rpm_limit,
        concurrency_limit=body.concurrency_limit,
        caps=body.limits(),
    )
    # The only time the secret is ever shown.
    return JSONResponse(key_body(record) | {"secret": secret}, status_code=201)


class KeyLimits(RealtimeCaps):
    """A key's limits as they are to be from now on; a limit left out is lifted."""

    model_config = ConfigDict(extra="forbid")

    spend_limit_usd: Decimal | None = Field(default=None, ge=0, le=MAX_USD, decimal_places=6)
    rpm_limit: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    concurrency_limit: int | None = Field(default=None, ge=1, le=MAX_COUNT)


async def key_limits(request: Request) -> Response:
    """GET: a key's limits, spend and holds; PATCH: new limits."""
    scope = await admin_scope(request)
    services = scope.services
    workspace = await workspace_of(request, scope)
    key_id = request.path_params["key_id"]
    if request.method == "PATCH":
        body = await parse_body(request, KeyLimits)
        spend = body.spend_limit_usd
        await services.keys.set_limits(
            workspace.id,
            key_id,
            spend_limit_micro_usd=None if spend is None else _micro(spend),
            rpm_limit=body.rpm_limit,
            concurrency_limit=body.concurrency_limit,
        )
        await services.keys.set_caps(workspace.id, key_id, body.limits())
    limits = await services.keys.limits(workspace.id, key_id)
    if limits is None:
        raise NotFoundError(f"No key '{key_id}' in this workspace.", param="key_id")
    spend_limit = limits["spend_limit_micro_usd"]
    return JSONResponse(
        {
            "object": "api_key.limits",
            "id": key_id,
            **limits,
            "spend_limit_usd": None if spend_limit is None else format_usd(spend_limit),
            "spent_usd": format_usd(limits["spent_micro_usd"]),
            **{
                name.replace("micro_usd", "usd"): None if value is None else format_usd(value)
                for name, value in limits.items()
                if name.startswith("max_")
            },
        }
    )


async def list_workspace_keys(request: Request) -> Response:
    scope = await admin_scope(request)
    services = scope.services
    workspace = await workspace_of(request, scope)
    keys = await services.keys.list(workspace.id)
    return JSONResponse({"object": "list", "data": [key_body(key) for key in keys]})


async def revoke_key(request: Request) -> Response:
    scope = await admin_scope(request)
    services = scope.services
    workspace = await workspace_of(request, scope)
    key_id = request.path_params["key_id"]
    if not await services.keys.revoke(workspace.id, key_id):
        raise NotFoundError(f"No active key '{key_id}' in this workspace.", param="key_id")
    return JSONResponse({"object": "api_key", "id": key_id, "revoked": True})


async def workspace_usage(request: Request) -> Response:
    scope = await admin_scope(request)
    services = scope.services
    workspace = await workspace_of(request, scope)
    rows = await services.usage.page(workspace.id, limit=100)
    return JSONResponse({"object": "list", "data": rows})


class MarginQuery(TimeRange):
    """The time range of the margins."""


class NewOwnerToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


async def owner_tokens(request: Request) -> Response:
    """POST: a token for the workspace's owner (its secret shown this once); GET: the list."""
    services = await operator_services(request)
    workspace = await workspace_of(request, AdminScope(services, None))
    if request.method == "POST":
        body = await parse_body(request, NewOwnerToken)
        token, secret = await services.owners.create(workspace.id, body.name)
        return JSONResponse({"object": "owner_token", **token, "secret": secret}, status_code=201)
    tokens = await services.owners.all(workspace.id)
    return JSONResponse(
        {"object": "list", "data": [{"object": "owner_token", **t} for t in tokens]}
    )


async def revoke_owner_token(request: Request) -> Response:
    services = await operator_services(request)
    workspace = await workspace_of(request, AdminScope(services, None))
    token_id = request.path_params["token_id"]
    if not await services.owners.revoke(workspace.id, token_id):
        raise NotFoundError(f"No active owner token '{token_id}'.", param="token_id")
    return JSONResponse({"object": "owner_token", "id": token_id, "revoked": True})


async def margins(request: Request) -> Response:
    """What clients were charged beside what the providers cost, per model and route."""
    services = await operator_services(request)
    query = parse_query(request, MarginQuery)
    rows = await services.usage.margins(since=query.since, until=query.until)
    return JSONResponse({"object": "list", "data": [_margin_body(row) for row in rows]})


def _margin_body(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "margin",
        **row,
        "charged_usd": format_usd(MicroUSD(row["charged_micro_usd"])),
        "provider_cost_usd": format_usd(MicroUSD(row["provider_cost_micro_usd"])),
        "margin_usd": format_usd(MicroUSD(row["margin_micro_usd"])),
    }


@dataclass(frozen=True, slots=True)
class AdminScope:
    """Who calls the admin API: the operator (every workspace) or one workspace's owner."""

    services: Services
    workspace_id: str | None


async def admin_scope(request: Request) -> AdminScope:
    """The operator's admin token, or a workspace owner's token; anything else is a 401."""
    services = services_of(request)
    token = services.settings.admin_token
    if not token:
        raise AuthenticationError(
            "The admin API is off: set VOXGATE_ADMIN_TOKEN to turn it on.", code="admin_disabled"
        )
    header = request.headers.get("authorization", "")
    if not header.lower().startswith(BEARER):
        raise AuthenticationError(
            "The admin API needs 'Authorization: Bearer <admin token>'.",
            code="invalid_admin_token",
        )
    given = header[len(BEARER) :].strip()
    if hmac.compare_digest(given.encode(), token.encode()):
        return AdminScope(services, None)
    owned = await services.owners.workspace_of(given)
    if owned is None:
        raise AuthenticationError("Invalid admin token.", code="invalid_admin_token")
    return AdminScope(services, owned)


async def operator_services(request: Request) -> Services:
    """What only the operator may do: workspaces, credit, margins, webhooks, owners."""
    scope = await admin_scope(request)
    if scope.workspace_id is not None:
        raise PermissionDeniedError(
            "A workspace owner's token cannot do this; it needs the operator's admin token."
        )
    return scope.services


async def workspace_of(request: Request, scope: AdminScope) -> WorkspaceRecord:
    """The workspace the path names, if the caller may manage it (another workspace is not
    found for an owner, so that its existence is not told)."""
    workspace_id = request.path_params["workspace_id"]
    workspace = (
        await scope.services.workspaces.get(workspace_id)
        if scope.workspace_id in (None, workspace_id)
        else None
    )
    if workspace is None:
        raise NotFoundError(f"No workspace '{workspace_id}'.", param="workspace_id")
    return workspace


async def _workspace_body(services: Services, workspace: WorkspaceRecord) -> dict[str, Any]:
    wallet = await services.ledger.wallet(workspace.id)
    assert wallet is not None, "every workspace has a wallet"
    return {
        "object": "workspace",
        "id": workspace.id,
        "name": workspace.name,
        "created_at": workspace.created_at,
        "speech_cache": workspace.speech_cache,
        "balance_usd": format_usd(MicroUSD(wallet.balance_micro_usd)),
        "held_usd": format_usd(MicroUSD(wallet.held_micro_usd)),
        "available_usd": format_usd(MicroUSD(wallet.available_micro_usd)),
    }


def _micro(usd: Decimal) -> MicroUSD:
    return MicroUSD(int(usd * MICRO))


Endpoint = Callable[[Request], Awaitable[Response]]


def by_method(**endpoints: Endpoint) -> Endpoint:
    """One route for a path with several methods (each by its lower-case name), so that a 405
    lists them all in its Allow header; HEAD is answered as GET."""

    async def endpoint(request: Request) -> Response:
        method = "get" if request.method == "HEAD" else request.method.lower()
        return await endpoints[method](request)

    return endpoint


ROUTES = [
    Route(
        "/admin/v1/workspaces",
        by_method(get=list_workspaces, post=create_workspace),
        methods=["GET", "POST"],
    ),
    Route("/admin/v1/workspaces/{workspace_id}", one_workspace, methods=["GET", "PATCH"]),
    Route("/admin/v1/workspaces/{workspace_id}/credit", change_credit, methods=["POST"]),
    Route(
        "/admin/v1/workspaces/{workspace_id}/keys",
        by_method(get=list_workspace_keys, post=create_key),
        methods=["GET", "POST"],
    ),
    Route("/admin/v1/workspaces/{workspace_id}/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
    Route(
        "/admin/v1/workspaces/{workspace_id}/keys/{key_id}",
        key_limits,
        methods=["GET", "PATCH"],
    ),
    Route("/admin/v1/workspaces/{workspace_id}/usage", workspace_usage, methods=["GET"]),
    Route("/admin/v1/margins", margins, methods=["GET"]),
    Route(
        "/admin/v1/workspaces/{workspace_id}/owner_tokens",
        owner_tokens,
        methods=["GET", "POST"],
    ),
    Route(
        "/admin/v1/workspaces/{workspace_id}/owner_tokens/{token_id}/revoke",
        revoke_owner_token,
        methods=["POST"],
    ),
]
