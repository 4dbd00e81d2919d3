"""The operator's webhooks: where alerts go, signed, and the log of their deliveries."""

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from voxgate.api.admin import MAX_USD, by_method, operator_services
from voxgate.api.bodies import parse_body
from voxgate.api.responses import JSONResponse
from voxgate.courier import SIGNATURE_HEADER, webhook_secret
from voxgate.errors import InvalidRequestError, NotFoundError
from voxgate.money import MICRO, format_usd
from voxgate.services import key_pepper
from voxgate.store.webhooks import BALANCE_LOW, EVENTS
from voxgate.types import MicroUSD


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://")
    events: tuple[str, ...] = Field(min_length=1, description=f"Some of {', '.join(EVENTS)}.")
    workspace_id: str | None = Field(
        default=None, description="Only this workspace's alerts; none: every workspace's."
    )
    balance_below_usd: Decimal | None = Field(default=None, gt=0, le=MAX_USD, decimal_places=6)

    @field_validator("events")
    @classmethod
    def _known(cls, events: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(events) - set(EVENTS))
        if unknown:
            raise ValueError(f"unknown events {unknown}; known: {list(EVENTS)}")
        return tuple(dict.fromkeys(events))


async def create_webhook(request: Request) -> Response:
    services = await operator_services(request)
    body = await parse_body(request, NewWebhook)
    if (BALANCE_LOW in body.events) != (body.balance_below_usd is not None):
        raise InvalidRequestError(
            f"'{BALANCE_LOW}' and balance_below_usd go together.", param="balance_below_usd"
        )
    if body.workspace_id is not None and await services.workspaces.get(body.workspace_id) is None:
        raise NotFoundError(f"No workspace '{body.workspace_id}'.", param="workspace_id")
    below = body.balance_below_usd
    webhook = await services.webhooks.create(
        body.url,
        body.events,
        workspace_id=body.workspace_id,
        balance_below_micro_usd=None if below is None else int(below * MICRO),
    )
    # The only time the signing secret is shown.
    secret = webhook_secret(key_pepper(services.settings), webhook["id"])
    return JSONResponse(webhook_body(webhook) | {"secret": secret}, status_code=201)


async def list_webhooks(request: Request) -> Response:
    services = await operator_services(request)
    webhooks = await services.webhooks.all()
    return JSONResponse({"object": "list", "data": [webhook_body(w) for w in webhooks]})


async def delete_webhook(request: Request) -> Response:
    services = await operator_services(request)
    webhook_id = request.path_params["webhook_id"]
    if not await services.webhooks.delete(webhook_id):
        raise NotFoundError(f"No webhook '{webhook_id}'.", param="webhook_id")
    return JSONResponse({"object": "webhook", "id": webhook_id, "deleted": True})


async def list_deliveries(request: Request) -> Response:
    services = await operator_services(request)
    webhook_id = request.path_params["webhook_id"]
    if await services.webhooks.get(webhook_id) is None:
        raise NotFoundError(f"No webhook '{webhook_id}'.", param="webhook_id")
    deliveries = await services.webhooks.deliveries(webhook_id)
    return JSONResponse({"object": "list", "data": deliveries})


def webhook_body(webhook: dict[str, Any]) -> dict[str, Any]:
    below = webhook["balance_below_micro_usd"]
    return {
        "object": "webhook",
        "id": webhook["id"],
        "url": webhook["url"],
        "events": webhook["events"].split(","),
        "workspace_id": webhook["workspace_id"],
        "balance_below_usd": None if below is None else format_usd(MicroUSD(below)),
        "signature_header": SIGNATURE_HEADER,
        "created_at": webhook["created_at"],
    }


ROUTES = [
    Route(
        "/admin/v1/webhooks",
        by_method(get=list_webhooks, post=create_webhook),
        methods=["GET", "POST"],
    ),
    Route("/admin/v1/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
    Route("/admin/v1/webhooks/{webhook_id}/deliveries", list_deliveries, methods=["GET"]),
]
