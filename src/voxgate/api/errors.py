"""Every failure leaves in the OpenAI error shape; a client's mistake is never a 500."""

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from voxgate.api.responses import error_response
from voxgate.errors import (
    ConflictError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
)

logger = logging.getLogger("voxgate.api")


async def gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_class = NotFoundError if exc.status_code == 404 else InvalidRequestError
    # Starlette's own headers stay: a 405 lists the methods the path allows (Allow).
    error = error_class(exc.detail, code=f"http_{exc.status_code}", headers=dict(exc.headers or {}))
    error.status_code = exc.status_code
    return error_response(error)


async def database_error(request: Request, exc: Exception) -> Response:
    """The database refused or dropped us (overloaded, restarting): retry shortly. A hold
    placed before the failure is released by the reaper."""
    cause = getattr(exc, "orig", None) or exc  # the driver's message, without SQL or values
    logger.error(
        "database unavailable in request %s: %s: %s",
        request.state.request_id,
        type(cause).__name__,
        str(cause).splitlines()[0][:200] if str(cause) else "",
    )
    error = ServiceUnavailableError(
        "The gateway's database is unavailable; retry shortly.",
        code="database_unavailable",
        headers={"retry-after": "1", "x-request-id": request.state.request_id},
    )
    return error_response(error)


async def conflict_error(request: Request, exc: Exception) -> Response:
    """A write that a uniqueness rule refused: the request clashes with what exists, which is
    the client's to resolve, not an outage."""
    logger.warning("conflict in request %s: %s", request.state.request_id, type(exc).__name__)
    return error_response(ConflictError("The request conflicts with an existing record."))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    request_id = request.state.request_id
    logger.exception("unhandled error in request %s", request_id)
    error = GatewayError(
        f"The gateway failed to handle request {request_id}; it has been logged.",
        code="internal_error",
        # Starlette answers this one outside our middleware, so the id is added here.
        headers={"x-request-id": request_id},
    )
    return error_response(error)
