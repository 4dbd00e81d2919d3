"""What the Idempotency-Key middleware answers: its limits and its refusals."""

from voxgate.errors import GatewayError, InvalidRequestError
from voxgate.store.idempotency import StoredAnswer

MAX_KEY_LENGTH = 255
# Larger answers (a minute of speech as base64 JSON is about 1.3 MB) keep only their request id.
MAX_STORED_ANSWER_BYTES = 2 * 1024 * 1024
REPLAYED_HEADER = "idempotent-replayed"


class IdempotencyConflict(GatewayError):
    status_code = 409
    error_type = "invalid_request_error"
    default_code = "idempotency_key_in_use"


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
