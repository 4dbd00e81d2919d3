"""Idempotency-Key on every billed endpoint, around the routes rather than inside each.

A POST to a billed path that carries the header runs at most once per workspace and key. Its
answer is kept when it is small and replayed to retries; a larger or streamed answer keeps only
its request id, and a retry gets a 409 saying the original completed (it is never run or charged
again). The routes never see the header.
"""

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.api.auth import authenticate
from voxgate.api.idempotency import (
    MAX_STORED_ANSWER_BYTES,
    REPLAYED_HEADER,
    check_key,
    completed_without_answer,
    key_in_use,
    reused_key,
)
from voxgate.api.responses import error_response
from voxgate.errors import AuthenticationError, GatewayError, ServiceUnavailableError
from voxgate.services import Services
from voxgate.store.idempotency import IdempotencyStore, StoredAnswer

logger = logging.getLogger("voxgate.api")

BILLED_PATHS = frozenset(
    {
        "/api/v1/audio",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
        "/v1/chat/completions",
    }
)
HEADER = b"idempotency-key"
EVENT_STREAM = "text/event-stream"


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _idempotency_key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        inner = {**scope, "headers": [h for h in scope["headers"] if h[0] != HEADER]}
        services: Services = scope["app"].state.services
        # The caller is known before a byte of the body is kept: a stranger's body is never
        # buffered here (the route refuses it unread).
        try:
            check_key(key)
            principal = await authenticate(Request(scope), services)
        except AuthenticationError:
            await self.app(inner, receive, send)  # the route answers 401 as for any request
            return
        except GatewayError as error:
            await error_response(error)(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client left while sending
        replay = _replaying(body, receive)
        once = _Once(services.idempotency, principal.workspace_id, key, scope, send)
        await once.run(_fingerprint(scope, body), lambda: self.app(inner, replay, once.recording))


@dataclass
class _Once:
    """One request under one key: claim, run, record (or answer from the record)."""

    store: IdempotencyStore
    workspace_id: str
    key: str
    scope: Scope
    client: Send
    status: int | None = None
    content_type: str = "application/json"
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    kept: bool = True
    finished: bool = False

    async def run(self, fingerprint: str, call: Callable[[], Awaitable[None]]) -> None:
        try:
            claim = await self.store.claim(self.workspace_id, self.key, fingerprint)
        except Exception:
            logger.exception("claiming an idempotency key failed")
            await self._refuse(_unavailable())
            return
        if claim.state == "claimed":
            await self._execute(call)
        elif claim.state == "mismatch":
            await self._refuse(reused_key())
        elif claim.state == "in_progress":
            await self._refuse(key_in_use())
        else:
            assert claim.answer is not None
            await self._replay(claim.answer)

    async def recording(self, message: Message) -> None:
        """The app's send: passes everything on and keeps what a replay needs."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = Headers(raw=message.get("headers", []))
            self.content_type = headers.get("content-type", self.content_type)
            # Events are a stream in time: a replay of them all at once would not be the same.
            self.kept = not self.content_type.startswith(EVENT_STREAM)
        elif message["type"] == "http.response.body":
            self._keep(message.get("body", b""))
            self.finished = not message.get("more_body", False)
        await self.client(message)

    async def _execute(self, call: Callable[[], Awaitable[None]]) -> None:
        renewing = asyncio.create_task(self._renew_forever())
        try:
            await call()
        except BaseException:
            await self._settle()
            raise
        finally:
            renewing.cancel()
        await self._settle()

    async def _settle(self) -> None:
        # Shielded: a hang-up cancels the request, and the record must still say what ran.
        await asyncio.shield(self._record())

    async def _record(self) -> None:
        try:
            if self.status is None or not 200 <= self.status < 300:
                # Nothing was answered, or a refusal: nothing ran to completion, so a retry may.
                await self.store.abandon(self.workspace_id, self.key)
                return
            body = b"".join(self.chunks) if self.kept and self.finished else None
            request_id = self.scope.get("state", {}).get("request_id")
            answer = StoredAnswer(self.status, self.content_type, request_id, body)
            await self.store.complete(self.workspace_id, self.key, answer)
        except Exception:
            # The lease runs out and the key is free again: a retry may run once more.
            logger.exception("recording an idempotency key failed")

    async def _renew_forever(self) -> None:
        interval = self.store.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.store.renew(self.workspace_id, self.key)
            except Exception:
                logger.exception("renewing an idempotency key failed")

    def _keep(self, chunk: bytes) -> None:
        if not self.kept:
            return
        self.size += len(chunk)
        if self.size > MAX_STORED_ANSWER_BYTES:
            self.kept = False
            self.chunks.clear()
            return
        self.chunks.append(chunk)

    async def _replay(self, answer: StoredAnswer) -> None:
        if answer.body is None:
            await self._refuse(completed_without_answer(answer))
            return
        content_type = answer.content_type.encode("latin-1")
        headers = [(b"content-type", content_type), (REPLAYED_HEADER.encode(), b"true")]
        await self._answer(answer.status, headers, answer.body)

    async def _refuse(self, error: GatewayError) -> None:
        response = error_response(error)
        await self._answer(response.status_code, response.raw_headers, bytes(response.body))

    async def _answer(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        await self.client({"type": "http.response.start", "status": status, "headers": headers})
        await self.client({"type": "http.response.body", "body": body})


def _idempotency_key(scope: Scope) -> str | None:
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in BILLED_PATHS:
        return None
    for name, value in scope["headers"]:
        if name == HEADER:
            return str(value.decode("latin-1"))
    return None


def _fingerprint(scope: Scope, body: bytes) -> str:
    """The same key sent to another endpoint is another request. A multipart body is the same
    whatever boundary the client drew this time (each retry draws a new one)."""
    content_type = Headers(scope=scope).get("content-type", "")
    media_type, _, options = content_type.partition(";")
    boundary = _multipart_boundary(options) if media_type.strip() == "multipart/form-data" else b""
    digest = hashlib.sha256(scope["path"].encode())
    digest.update(b"\0")
    digest.update(body.replace(boundary, b"") if boundary else body)
    return digest.hexdigest()


def _multipart_boundary(options: str) -> bytes:
    for option in options.split(";"):
        name, _, value = option.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"').encode("latin-1")
    return b""


async def _read_body(receive: Receive) -> bytes | None:
    # The body limit and timeout are enforced outside, by the request limits middleware.
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body once, then the client's own messages (a hang-up reaches streamed answers)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _unavailable() -> ServiceUnavailableError:
    return ServiceUnavailableError(
        "The gateway's database is unavailable; retry shortly.",
        code="database_unavailable",
        headers={"retry-after": "1"},
    )
