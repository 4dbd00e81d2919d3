"""Realtime: minted client secrets (`ek_…`) and the WebSocket the gateway relays and meters."""

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from voxgate.api.auth import authenticate
from voxgate.api.bodies import parse_body
from voxgate.api.middleware.request_id import new_request_id
from voxgate.api.responses import JSONResponse
from voxgate.billing.pricing import Metered
from voxgate.catalog.schema import ModelRow
from voxgate.errors import GatewayError, InvalidRequestError, NotFoundError, UpgradeRequiredError
from voxgate.gateway.jobs import usage_body
from voxgate.gateway.realtime import RealtimeRelay
from voxgate.gateway.realtime_local import LocalRealtimeSession
from voxgate.gateway.tasks import resolve_task
from voxgate.gateway.validation import validate
from voxgate.services import Services, services_of
from voxgate.store.keys import Principal
from voxgate.types import MicroUSD

MIN_TTL_SECONDS, MAX_TTL_SECONDS, DEFAULT_TTL_SECONDS = 10, 7200, 600
SUBPROTOCOL_KEY = "openai-insecure-api-key."
POLICY_VIOLATION = 1008
# Each step of a session's hold; the session is billed exactly, the step only bounds overspend.
HOLD_STEP = MicroUSD(10_000)


class ExpiresAfter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    anchor: str = "created_at"
    seconds: int = Field(default=DEFAULT_TTL_SECONDS, ge=MIN_TTL_SECONDS, le=MAX_TTL_SECONDS)


class ClientSecretBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_after: ExpiresAfter = Field(default_factory=ExpiresAfter)
    session: dict[str, Any]


class SessionBody(BaseModel):
    """The older POST /v1/realtime/sessions body."""

    model_config = ConfigDict(extra="allow")

    model: str


async def create_client_secret(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    body = await parse_body(request, ClientSecretBody)
    row = _realtime_model(services, str(body.session.get("model", "")))
    minted = await services.realtime_secrets.mint(
        principal, row.id, body.session, body.expires_after.seconds
    )
    expires_at = int(minted.expires_at.timestamp())
    return JSONResponse(
        {
            "value": minted.value,
            "expires_at": expires_at,
            "session": body.session
            | {"object": "realtime.session", "websocket_url": _ws_url(services, row)},
        }
    )


async def create_session(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    body = await parse_body(request, SessionBody)
    row = _realtime_model(services, body.model)
    session = body.model_dump()
    minted = await services.realtime_secrets.mint(principal, row.id, session, DEFAULT_TTL_SECONDS)
    expires_at = int(minted.expires_at.timestamp())
    return JSONResponse(
        session
        | {
            "id": f"sess_{int(time.time())}",
            "object": "realtime.session",
            "client_secret": {"value": minted.value, "expires_at": expires_at},
            "websocket_url": _ws_url(services, row),
        }
    )


def wants_realtime(services: Services, body: object) -> bool:
    """A unified request for a realtime session: task realtime, or auto on a realtime-only row."""
    if not isinstance(body, dict):
        return False
    row = services.catalog.get(str(body.get("model")))
    task = body.get("task") or "auto"
    return task == "realtime" or (
        task == "auto" and row is not None and row.default_task == "realtime"
    )


async def unified_realtime(
    services: Services, principal: Principal, body: object
) -> dict[str, Any]:
    """`task: realtime` on POST /api/v1/audio: the input is the session's instructions."""
    row, request = validate(body, services.catalog)
    if resolve_task(row, request) != "realtime":
        raise InvalidRequestError("Only task realtime mints a session.", param="task")
    row = _realtime_model(services, row.id)
    session = {
        "model": row.id,
        "instructions": request.input,
        "voice": request.voice or row.default_voice,
    }
    minted = await services.realtime_secrets.mint(principal, row.id, session, DEFAULT_TTL_SECONDS)
    return {
        "object": "realtime.session",
        "data": {
            "client_secret": minted.value,
            "expires_at": int(minted.expires_at.timestamp()),
            "websocket_url": _ws_url(services, row),
            "session": session,
        },
        "usage": usage_body(Metered(requests=0), MicroUSD(0)),
    }


async def realtime_over_http(request: Request) -> Response:
    """A plain GET on the WebSocket's path: say how to connect instead of a bare 404."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer ek_"):  # minted secrets are checked on connect
        await authenticate(request, services_of(request))
    raise UpgradeRequiredError(
        "This is the realtime WebSocket: connect with ws:// (or wss://) to "
        "/v1/realtime?model=<model>, with a workspace key or a minted secret.",
        headers={"upgrade": "websocket", "connection": "Upgrade"},
    )


async def realtime_socket(websocket: WebSocket) -> None:
    services = services_of(websocket)
    request_id = new_request_id()
    gateway = services.gateway
    try:
        principal, row, session = await _admit(websocket, services)
        providers = gateway.providers.chat if row.cascade else gateway.providers.realtime
        [attempt, *_] = gateway.planner.plan(row, providers)
    except GatewayError as exc:
        await websocket.close(POLICY_VIOLATION, exc.message[:120])
        return
    protocols = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="realtime" if "realtime" in protocols else None)
    try:
        if row.cascade is not None:
            local = LocalRealtimeSession(row, gateway.legs(row), attempt, services.holds, HOLD_STEP)
            await local.run(websocket, principal, request_id, session)
            return
        relay = RealtimeRelay(
            services.holds,
            services.catalog.voices,
            hold_step=HOLD_STEP,
            hold_ttl_seconds=services.settings.hold_ttl_seconds,
        )
        await relay.run(websocket, principal, request_id, row, attempt, session)
    except GatewayError as exc:
        await websocket.send_json({"type": "error", "error": exc.body()["error"]})
        await websocket.close(POLICY_VIOLATION)


async def _admit(
    websocket: WebSocket, services: Services
) -> tuple[Principal, ModelRow, dict[str, Any]]:
    """Who is connecting, to which model, with which session: a minted secret carries both."""
    secret = _presented_secret(websocket)
    wanted = websocket.query_params.get("model")
    grant = await services.realtime_secrets.resolve(secret) if secret.startswith("ek_") else None
    if grant is not None:
        if wanted and wanted != grant.model:
            raise InvalidRequestError("This secret was minted for another model.", param="model")
        return grant.principal, _realtime_model(services, grant.model), grant.session
    principal = await services.keys.authenticate(secret)
    if principal is None:
        raise InvalidRequestError("Invalid, expired or revoked key or client secret.")
    return principal, _realtime_model(services, wanted or ""), {}


def _presented_secret(websocket: WebSocket) -> str:
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    for protocol in websocket.scope.get("subprotocols") or []:
        if protocol.startswith(SUBPROTOCOL_KEY):
            return str(protocol[len(SUBPROTOCOL_KEY) :])
    return ""


def _realtime_model(services: Services, model_id: str) -> ModelRow:
    row = services.catalog.get(model_id)
    if row is None:
        raise NotFoundError(
            f"The model '{model_id}' does not exist.", param="model", code="model_not_found"
        )
    if "realtime" not in row.tasks:
        raise InvalidRequestError(f"Model '{row.id}' has no realtime sessions.", param="model")
    return row


def _ws_url(services: Services, row: ModelRow) -> str:
    return "ws" + services.settings.base_url.removeprefix("http") + f"/v1/realtime?model={row.id}"
