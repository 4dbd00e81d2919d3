"""WebRTC calls, as OpenAI's `POST /v1/realtime/calls`: an SDP offer (the body, as
`application/sdp`, or the `sdp` field of a multipart form with an optional `session`), with a
minted `ek_…` secret or a workspace key; `201` answers with the SDP answer and the call's
`Location`. The gateway terminates the media (gateway/realtime/webrtc.py): the call's session
is admitted, held and billed as a WebSocket's is."""

from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from voxgate.api.auth import authenticate
from voxgate.api.context import services_of
from voxgate.api.openai.realtime import (
    TRANSCRIPTION,
    _realtime_model,
    _request_id,
    _transcription_model,
)
from voxgate.catalog.schema import ModelRow
from voxgate.errors import AuthenticationError, InvalidRequestError
from voxgate.gateway.realtime.dialect import dialect_of
from voxgate.gateway.realtime.opening import WEBRTC_ENTRY, SessionRequest
from voxgate.gateway.realtime.transcription_config import named_model
from voxgate.gateway.realtime.webrtc import answer_offer, pcm_only
from voxgate.services import Services
from voxgate.store.keys import Principal
from voxgate.store.realtime import SecretGrant

SDP = "application/sdp"
MULTIPART = "multipart/form-data"


async def create_call(request: Request) -> Response:
    services = services_of(request)
    principal, grant = await _caller(request, services)
    offer, given = await _offer(request)
    row, session = _session(services, grant, given)
    param = pcm_only(session, "session.")
    if param is not None:
        raise InvalidRequestError(
            "A WebRTC call's audio is Opus on the wire and 24 kHz PCM in the session.",
            param=param,
        )
    call = await answer_offer(offer)
    opening = SessionRequest(
        principal,
        row,
        _request_id(request),
        session,
        transcription=session.get("type") == TRANSCRIPTION,
        url_model=row.id,
        entry=WEBRTC_ENTRY,
    )
    await services.calls.start(
        call, services.gateway.open_session, opening, dialect_of(request.headers)
    )
    return Response(
        call.answer,
        status_code=201,
        media_type=SDP,
        headers={"location": f"/v1/realtime/calls/{call.id}"},
    )


async def hang_up_call(request: Request) -> Response:
    """POST /v1/realtime/calls/{call_id}/hangup: ends a live call of the caller's workspace."""
    services = services_of(request)
    principal = await authenticate(request, services)
    await services.calls.hang_up(request.path_params["call_id"], principal.workspace_id)
    return Response(status_code=200)


async def _offer(request: Request) -> tuple[str, dict[str, Any]]:
    """The SDP offer, and the session the form gave with it (if any)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == SDP:
        return (await request.body()).decode(errors="replace"), {}
    if content_type != MULTIPART:
        raise InvalidRequestError(
            f"Send the SDP offer as {SDP}, or as the 'sdp' field of {MULTIPART}.",
            param="sdp",
        )
    form = await request.form()
    sdp = await _text(form.get("sdp"))
    if not sdp:
        raise InvalidRequestError("The form has no 'sdp' field.", param="sdp")
    session_text = await _text(form.get("session"))
    if not session_text:
        return sdp, {}
    try:
        session = orjson.loads(session_text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError("'session' is not valid JSON.", param="session") from exc
    if not isinstance(session, dict):
        raise InvalidRequestError("'session' must be a JSON object.", param="session")
    return sdp, session


async def _text(value: UploadFile | str | None) -> str:
    if isinstance(value, UploadFile):
        return (await value.read()).decode(errors="replace")
    return value or ""


async def _caller(request: Request, services: Services) -> tuple[Principal, SecretGrant | None]:
    """Who calls: a minted secret's key (with the grant), or a workspace key."""
    header = request.headers.get("authorization", "")
    secret = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not secret.startswith("ek_"):
        return await authenticate(request, services), None
    grant = await services.realtime_secrets.resolve(secret)
    if grant is None:
        raise AuthenticationError("Invalid, expired or revoked client secret.")
    return grant.principal, grant


def _session(
    services: Services, grant: SecretGrant | None, given: dict[str, Any]
) -> tuple[ModelRow, dict[str, Any]]:
    """The call's model and session: a minted secret carries both (a session given with it is
    laid over the minted one, on the same model); with a key, the given session names them."""
    if grant is None:
        return _model(services, given), given
    session = grant.session | given
    row = _model(services, session)
    if row.id != grant.model:
        raise InvalidRequestError(
            "This secret was minted for another model.", param="session.model"
        )
    return row, session


def _model(services: Services, session: dict[str, Any]) -> ModelRow:
    if session.get("type") == TRANSCRIPTION:
        return _transcription_model(services, named_model(session))
    model = session.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("The session names no model.", param="session.model")
    return _realtime_model(services, model)
