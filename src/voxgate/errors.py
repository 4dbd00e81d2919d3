"""Errors a client sees, each rendered in the OpenAI error shape with its HTTP status."""

from typing import Any


class GatewayError(Exception):
    status_code = 500
    error_type = "server_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code or self.default_code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequestError(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(GatewayError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDeniedError(GatewayError):
    status_code = 403
    error_type = "permission_error"
    default_code = "permission_denied"


class InsufficientCreditError(GatewayError):
    status_code = 402
    error_type = "insufficient_quota"
    default_code = "insufficient_credit"


class NotFoundError(InvalidRequestError):
    status_code = 404


class PayloadTooLargeError(InvalidRequestError):
    status_code = 413
    default_code = "request_too_large"


class RequestTimeoutError(InvalidRequestError):
    status_code = 408
    default_code = "request_timeout"


class HeadersTooLargeError(InvalidRequestError):
    status_code = 431
    default_code = "headers_too_large"


class UpgradeRequiredError(InvalidRequestError):
    status_code = 426
    default_code = "upgrade_required"


class ConflictError(GatewayError):
    """The request clashes with what exists (a name taken, a record already there)."""

    status_code = 409
    error_type = "invalid_request_error"
    default_code = "conflict"


class ServiceUnavailableError(GatewayError):
    status_code = 503
    error_type = "service_unavailable"


class OverloadedError(ServiceUnavailableError):
    default_code = "engine_overloaded"

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message, headers={"retry-after": str(retry_after_seconds)})


class RateLimitError(GatewayError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_seconds: int, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"retry-after": str(retry_after_seconds)})


class UpstreamFailedError(GatewayError):
    """A provider refused the gateway itself (its credential, say): not the client's mistake."""

    status_code = 502
    error_type = "upstream_error"
    default_code = "upstream_error"


class ClientClosedError(GatewayError):
    """The client went away before its answer was complete; nobody reads this, the usage
    record keeps it (499 after nginx's code for the same)."""

    status_code = 499
    error_type = "invalid_request_error"
    default_code = "client_closed_request"
