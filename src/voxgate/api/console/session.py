"""Console sessions: a signed cookie naming who signed in (the operator, one workspace's key,
or that workspace's owner token), never the secret itself; a CSRF token derived from it guards
every form."""

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response

from voxgate.services import Services, key_pepper

COOKIE = "vg_console"
COOKIE_PATH = "/console"
SESSION_SECONDS = 12 * 3600
Role = Literal["operator", "workspace", "owner"]
ROLES = ("operator", "workspace", "owner")


@dataclass(frozen=True)
class Session:
    role: Role
    workspace_id: str | None  # the key's or owner token's workspace; None for the operator
    key_id: str | None  # the workspace key's id, or the owner token's: the session ends with it
    expires: int
    nonce: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @property
    def manages(self) -> bool:
        """Whether it may change keys and budgets (of the workspaces it may see)."""
        return self.role in ("operator", "owner")

    def may_see(self, workspace_id: str) -> bool:
        return self.is_operator or workspace_id == self.workspace_id


def session_key(services: Services) -> bytes:
    """Derived from the key pepper, and from the admin token so that changing the token ends
    every session signed under the old one."""
    token = (services.settings.admin_token or "").encode()
    return hmac.digest(
        key_pepper(services.settings), b"voxgate-console-session\0" + token, hashlib.sha256
    )


def csrf_token(key: bytes, session: Session) -> str:
    return hmac.digest(key, b"csrf\0" + session.nonce.encode(), hashlib.sha256).hex()


def valid_csrf(key: bytes, session: Session, given: str) -> bool:
    return hmac.compare_digest(csrf_token(key, session).encode(), given.encode())


async def sign_in(services: Services, secret: str) -> Session | None:
    """The admin token opens an operator session; a live owner token or workspace key opens
    its workspace's."""
    expires = int(time.time()) + SESSION_SECONDS
    nonce = secrets.token_urlsafe(16)
    admin_token = services.settings.admin_token
    if admin_token and hmac.compare_digest(secret.encode(), admin_token.encode()):
        return Session("operator", None, None, expires, nonce)
    owned = await services.owners.owner_of(secret)
    if owned is not None:
        token_id, workspace_id = owned
        return Session("owner", workspace_id, token_id, expires, nonce)
    principal = await services.keys.authenticate(secret)
    if principal is None:
        return None
    return Session("workspace", principal.workspace_id, principal.key_id, expires, nonce)


def encode(key: bytes, session: Session) -> str:
    payload = orjson.dumps(
        [session.role, session.workspace_id, session.key_id, session.expires, session.nonce]
    )
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_signature(key, body)}"


def decode(key: bytes, cookie: str) -> Session | None:
    body, _, signature = cookie.partition(".")
    if not hmac.compare_digest(_signature(key, body).encode(), signature.encode()):
        return None
    try:
        role, workspace_id, key_id, expires, nonce = orjson.loads(
            base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        )
    except (ValueError, TypeError):
        return None
    if role not in ROLES or int(expires) < time.time():
        return None
    return Session(role, workspace_id, key_id, int(expires), str(nonce))


async def current_session(request: Request, services: Services) -> Session | None:
    """The request's session, if its cookie is genuine, unexpired, and its key or owner token
    still live."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    session = decode(session_key(services), cookie)
    if session is None or not await _still_live(services, session):
        return None
    return session


async def _still_live(services: Services, session: Session) -> bool:
    if session.key_id is None:
        return True
    if session.role == "owner":
        return await services.owners.is_live(session.key_id)
    return await services.realtime_secrets.key_is_live(session.key_id)


def set_cookie(response: Response, request: Request, value: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _signature(key: bytes, body: str) -> str:
    digest = hmac.digest(key, body.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
