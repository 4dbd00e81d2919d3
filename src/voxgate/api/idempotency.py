"""Runs a request at most once per Idempotency-Key; retries get the first result back."""

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import Response

from voxgate.errors import GatewayError, InvalidRequestError
from voxgate.store.idempotency import IdempotencyStore

MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "idempotent-replayed"


class IdempotencyConflict(GatewayError):
    status_code = 409
    error_type = "invalid_request_error"
    default_code = "idempotency_key_in_use"


async def run_once(
    store: IdempotencyStore,
    workspace_id: str,
    key: str,
    body: bytes,
    handle: Callable[[], Awaitable[dict[str, Any]]],
) -> Response:
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidRequestError(
            f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} characters.",
            param="Idempotency-Key",
        )
    claim = await store.claim(workspace_id, key, hashlib.sha256(body).hexdigest())
    if claim.state == "completed":
        assert claim.response_status is not None and claim.response_body is not None
        return _json(claim.response_body, claim.response_status, {REPLAYED_HEADER: "true"})
    if claim.state == "mismatch":
        raise InvalidRequestError(
            "This Idempotency-Key was used with a different request body.",
            param="Idempotency-Key",
            code="idempotency_key_reused",
        )
    if claim.state == "in_progress":
        raise IdempotencyConflict(
            "A request with this Idempotency-Key is still in progress; retry when it finishes.",
            headers={"retry-after": "1"},
        )
    try:
        result = orjson.dumps(await handle())
    except BaseException:
        await store.abandon(workspace_id, key)
        raise
    await store.complete(workspace_id, key, 200, result)
    return _json(result, 200, {})


def _json(content: bytes, status: int, headers: dict[str, str]) -> Response:
    return Response(content, status_code=status, headers=headers, media_type="application/json")
