"""POST /api/v1/audio: the unified audio endpoint."""

from starlette.requests import Request
from starlette.responses import Response

from voxgate.api.auth import authenticate
from voxgate.api.bodies import parse_json
from voxgate.api.context import services_of
from voxgate.api.openai.realtime import unified_realtime, wants_realtime
from voxgate.api.responses import JSONResponse


async def create_audio(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    body = await request.body()
    payload = parse_json(body)
    request_id = request.state.request_id
    if wants_realtime(services, payload):
        return JSONResponse(await unified_realtime(services, principal, payload, request_id))
    # A retry with the same Idempotency-Key is answered by the middleware before this runs.
    completed = await services.gateway.handle(principal, payload, request_id)
    return JSONResponse(completed.unified())
