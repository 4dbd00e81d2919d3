"""Runs a request at most once per Idempotency-Key; retries get the first result back."""

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import Response

from voxgate.errors import GatewayError, InvalidRequestError
from voxgate.store.idempotency import IdempotencyStore, StoredAnswer

MAX_KEY_LENGTH = 255
# Larger answers (a minute of speech as base64 JSON is about 1.3 MB) keep only their request id.
MAX_STORED_ANSWER_BYTES = 2 * 1024 * 1024
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
    check_key(key)
    claim = await store.claim(workspace_id, key, hashlib.sha256(body).hexdigest())
    if claim.state == "completed":
        assert claim.answer is not None
        if claim.answer.body is None:
            raise completed_without_answer(claim.answer)
        return _json(claim.answer.body, claim.answer.status, {REPLAYED_HEADER: "true"})
    if claim.state == "mismatch":
        raise reused_key()
    if claim.state == "in_progress":
        raise key_in_use()
    try:
        result = orjson.dumps(await handle())
    except BaseException:
        await store.abandon(workspace_id, key)
        raise
    body_kept = result if len(result) <= MAX_STORED_ANSWER_BYTES else None
    await store.complete(workspace_id, key, StoredAnswer(200, "application/json", None, body_kept))
    return _json(result, 200, {})


def check_key(key: str) -> None:
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidRequestError(
            f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} characters.",
            param="Idempotency-Key",
        )


def reused_key() -> InvalidRequestError:
    return InvalidRequestError(
        "This Idempotency-Key was used with a different request body.",
        param="Idempotency-Key",
        code="idempotency_key_reused",
    )


def key_in_use() -> IdempotencyConflict:
    return IdempotencyConflict(
        "A request with this Idempotency-Key is still in progress; retry when it finishes.",
        headers={"retry-after": "1"},
    )


def completed_without_answer(answer: StoredAnswer) -> IdempotencyConflict:
    """The original ran and was charged; its answer was too large (or streamed) to keep."""
    original = f" as request {answer.request_id}" if answer.request_id else ""
    return IdempotencyConflict(
        f"The request with this Idempotency-Key already completed{original} (status "
        f"{answer.status}); its answer was too large or streamed, so it is not stored to "
        "replay, and the request is not run again. Use a new key to run it again.",
        code="idempotency_key_completed",
    )


def _json(content: bytes, status: int, headers: dict[str, str]) -> Response:
    return Response(content, status_code=status, headers=headers, media_type="application/json")
