"""The operator's budgets: per workspace or key, spend, requests and audio per day or month."""

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from voxgate.api.admin import MAX_COUNT, MAX_USD, admin_scope, by_method, workspace_of
from voxgate.api.bodies import parse_body
from voxgate.api.responses import JSONResponse
from voxgate.errors import NotFoundError
from voxgate.money import MICRO, format_usd
from voxgate.store.budgets import BudgetLimits, Period
from voxgate.types import MicroUSD


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spend_limit_usd: Decimal | None = Field(default=None, ge=0, le=MAX_USD, decimal_places=6)
    request_limit: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    audio_minutes_limit: Decimal | None = Field(default=None, ge=0, le=MAX_COUNT, decimal_places=3)

    @model_validator(mode="after")
    def _some_limit(self) -> "Limits":
        if (self.spend_limit_usd, self.request_limit, self.audio_minutes_limit) == (None,) * 3:
            raise ValueError(
                "give at least one of spend_limit_usd, request_limit, audio_minutes_limit"
            )
        return self

    def stored(self) -> BudgetLimits:
        return BudgetLimits(
            spend_limit_micro_usd=None
            if self.spend_limit_usd is None
            else int(self.spend_limit_usd * MICRO),
            request_limit=self.request_limit,
            audio_seconds_limit=None
            if self.audio_minutes_limit is None
            else int(self.audio_minutes_limit * 60),
        )


class NewBudget(Limits):
    period: Period
    key_id: str | None = Field(
        default=None, description="A key of the workspace; none: the whole workspace."
    )


async def create_budget(request: Request) -> Response:
    scope = await admin_scope(request)
    services = scope.services
    workspace = await workspace_of(request, scope)
    body = await parse_body(request, NewBudget)
    if body.key_id is not None and body.key_id not in {
        key.id for key in await services.keys.list(workspace.id)
    }:
        raise NotFoundError(f"No key '{body.key_id}' in this workspace.", param="key_id")
    budget = await services.budgets.create(
        workspace.id, body.period, body.stored(), key_id=body.key_id
    )
    return JSONResponse(budget_body(budget), status_code=201)


async def list_budgets(request: Request) -> Response:
    scope = await admin_scope(request)
    services = scope.services
    workspace = await workspace_of(request, scope)
    budgets = await services.budgets.all(workspace.id)
    return JSONResponse({"object": "list", "data": [budget_body(b) for b in budgets]})


async def change_budget(request: Request) -> Response:
    """New limits for a budget (a limit left out is lifted); its use so far stays."""
    scope = await admin_scope(request)
    services = scope.services
    workspace = await workspace_of(request, scope)
    body = await parse_body(request, Limits)
    budget_id = request.path_params["budget_id"]
    budget = await services.budgets.update(workspace.id, budget_id, body.stored())
    if budget is None:
        raise NotFoundError(f"No budget '{budget_id}' in this workspace.", param="budget_id")
    return JSONResponse(budget_body(budget))


async def delete_budget(request: Request) -> Response:
    scope = await admin_scope(request)
    services = scope.services
    workspace = await workspace_of(request, scope)
    budget_id = request.path_params["budget_id"]
    if not await services.budgets.delete(workspace.id, budget_id):
        raise NotFoundError(f"No budget '{budget_id}' in this workspace.", param="budget_id")
    return JSONResponse({"object": "budget", "id": budget_id, "deleted": True})


def budget_body(budget: dict[str, Any]) -> dict[str, Any]:
    spend, audio = budget["spend_limit_micro_usd"], budget["audio_seconds_limit"]
    use = budget["current_period"]
    return {
        "object": "budget",
        "id": budget["id"],
        "workspace_id": budget["workspace_id"],
        "key_id": budget["key_id"],
        "period": budget["period"],
        "spend_limit_usd": None if spend is None else format_usd(MicroUSD(spend)),
        "request_limit": budget["request_limit"],
        "audio_minutes_limit": None if audio is None else audio / 60,
        "created_at": budget["created_at"],
        "current_period": {
            **use,
            "spent_usd": format_usd(MicroUSD(use["spent_micro_usd"])),
            "held_usd": format_usd(MicroUSD(use["held_micro_usd"])),
        },
    }


ROUTES = [
    Route(
        "/admin/v1/workspaces/{workspace_id}/budgets",
        by_method(get=list_budgets, post=create_budget),
        methods=["GET", "POST"],
    ),
    Route(
        "/admin/v1/workspaces/{workspace_id}/budgets/{budget_id}",
        by_method(patch=change_budget, delete=delete_budget),
        methods=["PATCH", "DELETE"],
    ),
]
