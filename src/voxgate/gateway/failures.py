"""What the client hears when no attempt succeeded, and what a failed request records."""

import asyncio

from voxgate.errors import (
    ClientClosedError,
    GatewayError,
    InvalidRequestError,
    ServiceUnavailableError,
    UpstreamFailedError,
)
from voxgate.routing.failover import AttemptsFailed

# Upstream answers that are about the request itself, passed on with the provider's words.
CLIENT_STATUSES = frozenset({400, 404, 413, 415, 422})


def client_error(model: str, failed: AttemptsFailed) -> GatewayError:
    last = failed.last
    if last is None:
        return ServiceUnavailableError(
            f"Every route of model '{model}' is cooling down after failures; retry shortly.",
            code="upstream_unavailable",
            headers={"retry-after": "1"},
        )
    if not failed.final:
        tried = sum(1 for attempt in failed.log if attempt.status != "skipped")
        return ServiceUnavailableError(
            f"All {tried} attempts for model '{model}' failed; the last: {last}.",
            code="upstream_unavailable",
            headers={"retry-after": "1"},
        )
    if last.status in CLIENT_STATUSES:
        error = InvalidRequestError(
            f"The {last.provider} provider refused the request: {last.message}",
            code="upstream_rejected",
        )
        error.status_code = last.status
        return error
    return UpstreamFailedError(
        f"The {last.provider} provider refused the gateway's call ({last.status}): {last.message}"
    )


def recorded_failure(exc: BaseException) -> GatewayError | None:
    """The error a failed request's usage record names; None records an internal error."""
    if isinstance(exc, GatewayError):
        return exc
    # A stream's body is cancelled, or closed at its next chunk, when the client hangs up.
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return ClientClosedError("The client closed the connection before the answer ended.")
    return None
