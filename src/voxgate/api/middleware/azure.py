"""Azure OpenAI's paths on the OpenAI-compatible surface, so code written for `AzureOpenAI`
works by changing only its endpoint.

`/openai/deployments/{deployment}/{operation}?api-version=…` and `/openai/v1/{operation}` are
served as `/v1/{operation}`; the key may come in Azure's `api-key` header as well as in
`Authorization: Bearer`. A deployment is a catalog model id or alias: the official clients also
name it as the body's `model`, and a JSON body that names no model (as Azure's REST examples
send) is given the deployment's.

Realtime WebSockets too: `/openai/realtime?api-version=…&deployment=…` (what `AzureOpenAI`'s
`realtime.connect` opens; the deployment names the model) and `/openai/v1/realtime?model=…`.
"""

import re
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_DEPLOYMENT = re.compile(
    r"^/openai/deployments/([^/]+)/"
    r"(audio/speech|audio/transcriptions|audio/translations|chat/completions)$"
)
_V1 = re.compile(r"^/openai/v1/(.+)$")
_REALTIME = "/openai/realtime"


class AzurePathsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] in (_REALTIME, "/openai/v1/realtime"):
            await self.app(_realtime_scope(scope), receive, send)
            return
        if scope["type"] != "http" or not scope["path"].startswith("/openai/"):
            await self.app(scope, receive, send)
            return
        deployment, operation = _operation(scope["path"])
        if operation is None:
            await self.app(scope, receive, send)
            return
        path = f"/v1/{operation}"
        headers = _with_bearer(scope["headers"])
        scope = {**scope, "path": path, "raw_path": path.encode(), "headers": headers}
        if deployment is not None and _is_json(headers):
            receive = await _naming_model(receive, deployment, scope)
        await self.app(scope, receive, send)


def _realtime_scope(scope: Scope) -> Scope:
    """An Azure realtime socket as `/v1/realtime`: its deployment is the model it names."""
    query = parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)
    names = {name for name, _ in query}
    deployment = next((value for name, value in query if name == "deployment"), None)
    if deployment is not None and "model" not in names:
        query.append(("model", deployment))
    path = "/v1/realtime"
    return {
        **scope,
        "path": path,
        "raw_path": path.encode(),
        "query_string": urlencode(query).encode(),
        "headers": _with_bearer(scope["headers"]),
    }


def _operation(path: str) -> tuple[str | None, str | None]:
    if match := _DEPLOYMENT.match(path):
        return unquote(match[1]), match[2]
    if match := _V1.match(path):
        return None, match[1]
    return None, None


def _with_bearer(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Azure's `api-key` as the Bearer token the rest of the gateway reads."""
    names = {name.lower() for name, _ in headers}
    if b"authorization" in names:
        return headers
    key = next((value for name, value in headers if name.lower() == b"api-key"), None)
    return headers if key is None else [*headers, (b"authorization", b"Bearer " + key)]


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
    return content_type.split(b";")[0].strip().lower() == b"application/json"


async def _naming_model(
    receive: Receive, deployment: str, scope: MutableMapping[str, Any]
) -> Receive:
    """The body as sent, or with the deployment as its model when it names none."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return _replay([message], receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None  # the endpoint refuses it by name
    if isinstance(parsed, dict) and "model" not in parsed:
        body = orjson.dumps({**parsed, "model": deployment})
        scope["headers"] = [
            (name, str(len(body)).encode() if name.lower() == b"content-length" else value)
            for name, value in scope["headers"]
        ]
    return _replay([{"type": "http.request", "body": body, "more_body": False}], receive)


def _replay(messages: list[Message], then: Receive) -> Receive:
    """The messages already read, then the connection's own (a streamed answer listens on it
    for the client hanging up)."""
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0) if pending else await then()

    return receive
