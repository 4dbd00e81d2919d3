"""Realtime: minted client secrets (`ek_…`) and the WebSocket the gateway relays and meters."""

import time
from typing import Any

from opentelemetry import trace
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
from voxgate.catalog.schema import ModelRow
from voxgate.errors import (
    AuthenticationError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    UpgradeRequiredError,
)
from voxgate.gateway.realtime.dialect import BETA, dialect_of
from voxgate.gateway.realtime.opening import SessionRequest, no_usage
from voxgate.gateway.realtime.relay import transcriber
from voxgate.gateway.realtime.responses import new_id
from voxgate.gateway.realtime.stages import StageClock
from voxgate.gateway.realtime.transcription_config import (
    DEFAULT_TRANSCRIPTION_MODEL,
    TranscriptionConfig,
    ga_settings,
    named_model,
)
from voxgate.gateway.realtime.wire import ClientChannel, error_event
from voxgate.gateway.tasks import resolve_task
from voxgate.gateway.validation import validate
from voxgate.services import Services
from voxgate.store.keys import Principal

MIN_TTL_SECONDS, MAX_TTL_SECONDS, DEFAULT_TTL_SECONDS = 10, 7200, 600
PCM_RATE = 24_000
# The unified endpoint's realtime formats (gateway/validation.py) as a session names them.
SESSION_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": PCM_RATE},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
SUBPROTOCOL_KEY = "openai-insecure-api-key."
TRANSCRIPTION = "transcription"
# RFC 6455 close codes for a session the gateway ends after accepting it.
POLICY_VIOLATION, INTERNAL_ERROR, TRY_AGAIN_LATER = 1008, 1011, 1013
MAX_CLOSE_REASON_BYTES = 123


class ExpiresAfter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    anchor: str = "created_at"
    seconds: int = Field(default=DEFAULT_TTL_SECONDS, ge=MIN_TTL_SECONDS, le=MAX_TTL_SECONDS)


class ClientSecretBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_after: ExpiresAfter = Field(default_factory=ExpiresAfter)
    session: dict[str, Any]


class TranscriptionSessionBody(BaseModel):
    """The beta POST /v1/realtime/transcription_sessions body: its settings are checked by
    name when they are read."""

    model_config = ConfigDict(extra="allow")


class SessionBody(BaseModel):
    """The older POST /v1/realtime/sessions body."""

    model_config = ConfigDict(extra="allow")

    model: str


async def create_client_secret(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    body = await parse_body(request, ClientSecretBody)
    if body.session.get("type") == TRANSCRIPTION:
        row = _transcription_model(services, named_model(body.session))
        TranscriptionConfig(id="", model=row.id).updated(body.session, beta=False)
    else:
        row = _realtime_model(services, str(body.session.get("model", "")))
    transcriber(services.catalog, body.session, "session.")
    minted = await services.gateway.mint_secret(
        principal, row, body.session, body.expires_after.seconds, _request_id(request)
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
    minted = await services.gateway.mint_secret(
        principal, row, session, DEFAULT_TTL_SECONDS, _request_id(request)
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


async def create_transcription_session(request: Request) -> Response:
    """POST /v1/realtime/transcription_sessions (beta): a secret for a transcription session;
    the settings are stored as the GA session they amount to."""
    services = services_of(request)
    principal = await authenticate(request, services)
    body = await parse_body(request, TranscriptionSessionBody)
    given = body.model_dump(exclude_none=True)
    row = _transcription_model(services, named_model(given))
    config = TranscriptionConfig(id=new_id("sess"), model=row.id).updated(given, beta=True)
    session = ga_settings(config)
    minted = await services.gateway.mint_secret(
        principal, row, session, DEFAULT_TTL_SECONDS, _request_id(request)
    )
    return JSONResponse(
        config.view(BETA)
        | {
            "client_secret": {
                "value": minted.value,
                "expires_at": int(minted.expires_at.timestamp()),
            },
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
    minted = await services.gateway.mint_secret(
        principal, row, session, DEFAULT_TTL_SECONDS, request_id or new_request_id()
    )
    return {
        "object": "realtime.session",
        "data": {
            "client_secret": minted.value,
            "expires_at": int(minted.expires_at.timestamp()),
            "websocket_url": _ws_url(services, row),
            "session": session,
        },
        "usage": no_usage(),
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
    """Who connects, to which model: the gateway opens the session and calls back to accept
    the socket once it is admitted and held (a refusal before that answers the handshake with
    its HTTP status and error body); a session it ends after that is closed by `_end`."""
    services = services_of(websocket)
    stages = StageClock()  # set-up is timed from the handshake
    request_id = new_request_id()
    trace.get_current_span().set_attribute("voxgate.request_id", request_id)

    async def accept() -> ClientChannel:
        protocols = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol="realtime" if "realtime" in protocols else None)
        return ClientChannel(StarletteClient(websocket), dialect_of(websocket.headers), stages)

    try:
        principal, row, session = await _admit(websocket, services)
        url = dict(websocket.query_params)
        request = SessionRequest(
            principal,
            row,
            request_id,
            session,
            transcription=_is_transcription(websocket, session),
            url=url,
            url_model=url.get("model"),
        )
        await services.gateway.open_session(request, accept, _end)
    except GatewayError as exc:
        refusal = JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)
        await websocket.send_denial_response(refusal)


async def _end(channel: ClientChannel, exc: GatewayError) -> None:
    """A session the gateway ends after accepting it: an error event, then a close code."""
    await channel.send(error_event(exc.message, code=exc.code or "failed", kind=exc.error_type))
    reason = (exc.code or exc.error_type).encode()[:MAX_CLOSE_REASON_BYTES]
    await channel.close(_close_code(exc), reason.decode(errors="ignore"))


def _close_code(exc: GatewayError) -> int:
    if exc.status_code in (429, 503):
        return TRY_AGAIN_LATER
    return INTERNAL_ERROR if exc.status_code >= 500 else POLICY_VIOLATION


async def _admit(
    websocket: WebSocket, services: Services
) -> tuple[Principal, ModelRow, dict[str, Any]]:
    """Who is connecting, to which model, with which session: a minted secret carries both."""
    secret = _presented_secret(websocket)
    wanted = websocket.query_params.get("model")
    grant = await services.realtime_secrets.resolve(secret) if secret.startswith("ek_") else None
    transcribing = websocket.query_params.get("intent") == TRANSCRIPTION
    if grant is not None:
        model = (
            _transcription_model
            if _is_transcription(websocket, grant.session)
            else (_realtime_model)
        )
        if wanted and model(services, wanted).id != grant.model:
            raise InvalidRequestError("This secret was minted for another model.", param="model")
        return grant.principal, model(services, grant.model), grant.session
    principal = await services.keys.authenticate(secret)
    if principal is None:
        raise AuthenticationError("Invalid, expired or revoked key or client secret.")
    if transcribing:
        return principal, _transcription_model(services, wanted), {}
    return principal, _realtime_model(services, wanted or ""), {}


def _is_transcription(websocket: WebSocket, session: dict[str, Any]) -> bool:
    """A transcription session: asked for on the URL, or minted as one."""
    intent = websocket.query_params.get("intent") == TRANSCRIPTION
    return intent or session.get("type") == TRANSCRIPTION


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


def _transcription_model(services: Services, model_id: str | None) -> ModelRow:
    """The row of the transcription model a transcription session names on its URL (or the
    default's); a 404 naming an unknown one, a 400 for a model that does not transcribe."""
    row = services.catalog.get(model_id or DEFAULT_TRANSCRIPTION_MODEL)
    if row is None:
        raise NotFoundError(
            f"The model '{model_id}' does not exist.", param="model", code="model_not_found"
        )
    if "transcription" not in row.tasks:
        raise InvalidRequestError(
            f"Model '{row.id}' does not transcribe; a transcription session names a "
            "transcription model.",
            param="model",
        )
    return row


def _ws_url(services: Services, row: ModelRow) -> str:
    return "ws" + services.settings.base_url.removeprefix("http") + f"/v1/realtime?model={row.id}"
