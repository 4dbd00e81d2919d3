"""Bearer workspace keys: the caller of every authenticated endpoint."""

from starlette.requests import Request

from voxgate.errors import AuthenticationError
from voxgate.services import Services
from voxgate.store.keys import Principal

_BEARER = "bearer "


async def authenticate(request: Request, services: Services) -> Principal:
    header = request.headers.get("authorization", "")
    if not header:
        raise AuthenticationError(
            "Missing API key: send 'Authorization: Bearer <workspace key>'.",
            code="missing_api_key",
        )
    if not header.lower().startswith(_BEARER):
        raise AuthenticationError("The Authorization header must use the Bearer scheme.")
    principal = await services.keys.authenticate(header[len(_BEARER) :].strip())
    if principal is None:
        raise AuthenticationError("Invalid, expired or revoked API key.")
    return principal
