"""The voice page: a browser talks to a realtime model over WebRTC (`POST /v1/realtime/calls`),
with a secret minted for the signed-in workspace key, or with a key pasted into the page."""

from types import MappingProxyType

from starlette.responses import Response

from voxgate.api.console.render import PAGE_HEADERS, ConsoleError, Page
from voxgate.api.openai.realtime import DEFAULT_TTL_SECONDS, _realtime_model
from voxgate.api.responses import JSONResponse
from voxgate.errors import GatewayError
from voxgate.store.keys import Principal

# The page itself calls the gateway (fetch), hears the microphone and plays a media stream.
VOICE_HEADERS = MappingProxyType(
    dict(PAGE_HEADERS)
    | {
        "Content-Security-Policy": str(PAGE_HEADERS["Content-Security-Policy"])
        + "; connect-src 'self'; media-src 'self' blob:",
        "Permissions-Policy": "microphone=(self)",
    }
)
INSTRUCTIONS = "You are a helpful voice assistant. Answer briefly."


async def voice(page: Page) -> Response:
    models = sorted(row.id for row in page.services.catalog if "realtime" in row.tasks)
    signed_in_key = page.session is not None and not page.session.is_operator
    response = page.render(
        "voice.html",
        models=models,
        default_model="local-realtime" if "local-realtime" in models else models[0],
        mints_here=signed_in_key,
        instructions=INSTRUCTIONS,
    )
    response.headers.update(VOICE_HEADERS)
    return response


async def voice_secret(page: Page) -> Response:
    """A client secret for the signed-in workspace key (the form's CSRF token is checked)."""
    session = page.signed_in
    if session.key_id is None or session.workspace_id is None:
        raise ConsoleError(403, "voice_needs_key")
    keys = page.services.keys
    limits = await keys.limits(session.workspace_id, session.key_id)
    names = [key.name for key in await keys.list(session.workspace_id) if key.id == session.key_id]
    if limits is None or not names:
        raise ConsoleError(403, "voice_needs_key")
    principal = Principal(
        session.workspace_id,
        session.key_id,
        names[0],
        limits["spend_limit_micro_usd"],
        limits["rpm_limit"],
        limits["concurrency_limit"],
    )
    try:
        row = _realtime_model(page.services, page.field("model") or "")
        minted = await page.services.gateway.mint_secret(
            principal,
            row,
            {"type": "realtime", "model": row.id, "instructions": INSTRUCTIONS},
            DEFAULT_TTL_SECONDS,
            page.request.state.request_id,
        )
    except GatewayError as exc:
        return JSONResponse(exc.body(), status_code=exc.status_code)
    return JSONResponse({"value": minted.value, "expires_at": int(minted.expires_at.timestamp())})
