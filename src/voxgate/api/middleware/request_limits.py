"""Limits on what a client sends, answered before the request reaches a handler: header bytes
(431), body bytes (413, before the body is buffered) and a body that stops or trickles in (408).

A body may pause for `body_timeout` between pieces, and after its first `body_timeout` seconds
it must have kept `body_min_rate` bytes a second on average: one byte every 15 s (always within
the pause allowed) once held a connection for as long as the client liked."""

import asyncio
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.api.responses import error_response
from voxgate.errors import (
    GatewayError,
    HeadersTooLargeError,
    PayloadTooLargeError,
    RequestTimeoutError,
)


class _Refused(Exception):
    """Raised from `receive` when the body breaks a limit while the handler reads it."""

    def __init__(self, error: GatewayError) -> None:
        self.error = error


class RequestLimitsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int,
        max_body_bytes: int,
        body_timeout: float,
        body_min_rate: int = 0,
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.body_min_rate = body_min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal_by_headers(scope)
        if refusal is not None:
            await error_response(refusal)(scope, receive, send)
            return
        received = 0
        body_done = False
        started = False
        began: float | None = None

        async def limited_receive() -> Message:
            nonlocal received, body_done, began
            if body_done:
                # After the body, receive() only waits for the client to hang up (a streamed
                # answer listens for that as long as it runs): no timeout applies.
                return await receive()
            # The rate is counted from when the body is first asked for: time the gateway took
            # before reading (authentication) is not the client's.
            began = time.monotonic() if began is None else began
            pause_ends = time.monotonic() + self.body_timeout
            rate_ends = self._rate_deadline(began, received)
            try:
                async with asyncio.timeout(max(0.0, min(pause_ends, rate_ends) - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                if rate_ends < pause_ends:
                    raise _Refused(self._too_slow_a_rate(received, began)) from None
                raise _Refused(self._too_slow()) from None
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise _Refused(self._too_large())
            body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _Refused as refused:
            if not started:
                await error_response(refused.error)(scope, receive, send)
        except ClientDisconnect:
            # The client left while sending its body: nobody is there to answer, and the access
            # line (status 499) is the one line that says so, not a traceback.
            return

    def _rate_deadline(self, began: float, received: int) -> float:
        """When the body, `received` bytes so far, falls below the minimum average rate."""
        if self.body_min_rate <= 0:
            return float("inf")
        return began + self.body_timeout + received / self.body_min_rate

    def _refusal_by_headers(self, scope: Scope) -> GatewayError | None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if sum(len(name) + len(value) for name, value in headers) > self.max_header_bytes:
            return HeadersTooLargeError(
                f"The request headers are larger than this gateway's limit of "
                f"{self.max_header_bytes} bytes."
            )
        declared = dict(headers).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return self._too_large()
        return None

    def _too_large(self) -> GatewayError:
        return PayloadTooLargeError(
            f"The request body is larger than this gateway's limit of {self.max_body_bytes} bytes.",
            param=None,
        )

    def _too_slow_a_rate(self, received: int, began: float) -> GatewayError:
        return RequestTimeoutError(
            f"The request body arrived too slowly: {received} bytes in "
            f"{time.monotonic() - began:.0f} seconds; after the first {self.body_timeout:g} "
            f"seconds this gateway needs at least {self.body_min_rate} bytes a second."
        )

    def _too_slow(self) -> GatewayError:
        return RequestTimeoutError(
            f"The request body did not arrive: nothing came for {self.body_timeout:g} seconds."
        )
