"""Realtime: minted client secrets (`ek_…`) and the WebSocket the gateway relays and meters."""

import time
from collections.abc import Coroutine
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from voxgate.api.auth import authenticate
from voxgate.api.bodies import parse_body
from voxgate.api.context import services_of
from voxgate.api.middleware.request_id import new_request_id
from voxgate.api.responses import JSONResponse
from voxgate.api.websocket import StarletteClient
from voxgate.billing.pricing import Metered, hold_amount
from voxgate.billing.usage import UsageRecord
from voxgate.catalog.schema import ModelRow
from voxgate.errors import (
    GatewayError,
    InsufficientCreditError,
    InvalidRequestError,
    NotFoundError,
    UpgradeRequiredError,
)
from voxgate.gateway.jobs import usage_body
from voxgate.gateway.realtime.bill import BillTerms, SessionBill
from voxgate.gateway.realtime.dialect import dialect_of
from voxgate.gateway.realtime.local import LocalWork, initial_config, serve_locally
from voxgate.gateway.realtime.relay import RealtimeRelay, transcriber
from voxgate.gateway.realtime.session import run_session
from voxgate.gateway.realtime.wire import ClientChannel
from voxgate.gateway.tasks import resolve_task
from voxgate.gateway.validation import validate
from voxgate.routing.planner import PlannedAttempt
from voxgate.services import Services
from voxgate.store.keys import Principal
from voxgate.store.realtime import MintedSecret
from voxgate.types import MicroUSD

MIN_TTL_SECONDS, MAX_TTL_SECONDS, DEFAULT_TTL_SECONDS = 10, 7200, 600
SECRET_TASK = "realtime_secret"  # noqa: S105 - a task name
PCM_RATE = 24_000
# The unified endpoint's realtime formats (gateway/validation.py) as a session names them.
SESSION_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": PCM_RATE},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
SUBPROTOCOL_KEY = "openai-insecure-api-key."
POLICY_VIOLATION = 1008
# What a session holds ahead of its next piece of work; each piece is charged exactly.
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
    transcriber(services.catalog, body.session, "session.")
    minted = await _mint(
        services, principal, row, body.session, body.expires_after.seconds, _request_id(request)
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
    transcriber(services.catalog, session, "")
    minted = await _mint(
        services, principal, row, session, DEFAULT_TTL_SECONDS, _request_id(request)
    )
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
    services: Services, principal: Principal, body: object, request_id: str | None = None
) -> dict[str, Any]:
    """`task: realtime` on POST /api/v1/audio: `input` (after any `instructions`) instructs the
    session; the voice, speed and output format are the session's audio output."""
    row, request = validate(body, services.catalog)
    if resolve_task(row, request) != "realtime":
        raise InvalidRequestError("Only task realtime mints a session.", param="task")
    row = _realtime_model(services, row.id)
    output: dict[str, Any] = {
        "voice": request.voice or row.default_voice,
        "format": SESSION_FORMATS[request.realtime_format or "pcm16"],
    }
    if request.speed is not None:
        output["speed"] = request.speed
    session = {
        "type": "realtime",
        "model": row.id,
        "instructions": "\n\n".join(filter(None, (request.instructions, request.input))),
        "audio": {"output": output},
    }
    minted = await _mint(
        services, principal, row, session, DEFAULT_TTL_SECONDS, request_id or new_request_id()
    )
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


async def _mint(
    services: Services,
    principal: Principal,
    row: ModelRow,
    session: dict[str, Any],
    ttl_seconds: int,
    request_id: str,
) -> MintedSecret:
    """Mint a secret under the key's quota of live secrets; either way, a usage record."""
    started = time.perf_counter()
    status, http_status, code = "succeeded", 200, None
    try:
        if row.cascade is not None:
            initial_config(row, session)  # a session the cascade cannot take is refused now
        return await services.realtime_secrets.mint(
            principal,
            row.id,
            session,
            ttl_seconds,
            max_live=services.settings.realtime_max_live_secrets_per_key,
        )
    except GatewayError as exc:
        status, http_status, code = "rejected", exc.status_code, exc.code
        raise
    finally:
        await services.holds.record(
            UsageRecord(
                request_id=request_id,
                workspace_id=principal.workspace_id,
                key_id=principal.key_id,
                model=row.id,
                task=SECRET_TASK,
                status=status,
                http_status=http_status,
                latency_ms=round((time.perf_counter() - started) * 1000),
                error_code=code,
            )
        )


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
        attempts = gateway.planner.plan(row, providers)
        attempt = attempts[0]
    except GatewayError as exc:
        await websocket.close(POLICY_VIOLATION, exc.message[:120])
        return
    protocols = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="realtime" if "realtime" in protocols else None)
    channel = ClientChannel(StarletteClient(websocket), dialect_of(websocket.headers))
    bill = SessionBill(
        services.holds,
        row,
        principal,
        request_id,
        _terms(services, row),
        provider=attempt.route.provider,
        route=attempt.label,
        observe_charge=services.metrics.observe_charge,
    )
    started = time.perf_counter()
    try:
        # Held for the whole session: rpm counts session opens, concurrency open sessions.
        async with gateway.admitted(principal, request_id, row.id, task="realtime"):
            try:
                await bill.open()
            except InsufficientCreditError as exc:  # refused before it held anything
                await services.holds.record(_refused(bill, exc, started))
                raise
            body = _session_body(services, row, attempts, channel, bill, session)
            await run_session(
                channel,
                bill,
                body,
                lambda: services.realtime_secrets.key_is_live(principal.key_id),
                services.settings.realtime_key_check_seconds,
            )
    except GatewayError as exc:
        await channel.send({"type": "error", "error": exc.body()["error"]})
        await channel.close(POLICY_VIOLATION, (exc.code or "refused")[:120])


def _refused(bill: SessionBill, exc: GatewayError, started: float) -> UsageRecord:
    return UsageRecord(
        request_id=bill.request_id,
        workspace_id=bill.principal.workspace_id,
        key_id=bill.principal.key_id,
        model=bill.row.id,
        task="realtime",
        status="rejected",
        http_status=exc.status_code,
        latency_ms=round((time.perf_counter() - started) * 1000),
        error_code=exc.code,
    )


def _session_body(
    services: Services,
    row: ModelRow,
    attempts: list[PlannedAttempt[Any]],
    channel: ClientChannel,
    bill: SessionBill,
    session: dict[str, Any],
) -> Coroutine[Any, Any, None]:
    """The local cascade's conversation, or the relay to the row's realtime routes."""
    if row.cascade is None:
        connect = partial(services.gateway.attempts, row.id, attempts)
        relay = RealtimeRelay(channel, bill, services.catalog, connect)
        return relay.run(session)
    work = LocalWork(row, services.gateway.legs(row), attempts[0], bill)
    return serve_locally(
        channel, work, row, session, max_buffer_seconds=services.settings.max_audio_seconds
    )


def _terms(services: Services, row: ModelRow) -> BillTerms:
    settings = services.settings
    minimum = hold_amount(row.pricing, [])
    return BillTerms(
        step=MicroUSD(max(HOLD_STEP, minimum)),
        hold_ttl_seconds=settings.hold_ttl_seconds,
        max_session_seconds=services.settings.realtime_max_session_seconds,
    )


async def _admit(
    websocket: WebSocket, services: Services
) -> tuple[Principal, ModelRow, dict[str, Any]]:
    """Who is connecting, to which model, with which session: a minted secret carries both."""
    secret = _presented_secret(websocket)
    wanted = websocket.query_params.get("model")
    grant = await services.realtime_secrets.resolve(secret) if secret.startswith("ek_") else None
    if grant is not None:
        if wanted and _realtime_model(services, wanted).id != grant.model:
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


def _request_id(request: Request) -> str:
    request_id: str = request.state.request_id
    return request_id


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
