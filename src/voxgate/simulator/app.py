"""The simulator's ASGI app: OpenAI, Azure OpenAI and Gemini paths (Gemini Live too), auth,
faults and a log."""

import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from voxgate.providers.local import LocalProvider
from voxgate.settings import Settings, default_data_dir
from voxgate.simulator import chat, gemini, openai
from voxgate.simulator.engine import SimEngine
from voxgate.simulator.faults import Chaos, FaultBook, FaultPlan
from voxgate.simulator.gemini_live import LIVE_PATH, serve_live
from voxgate.simulator.pacing import PACE_HEADER, Pace, pace_from_header
from voxgate.simulator.realtime import serve_realtime
from voxgate.simulator.wire import ErrorShape, answer, gemini_error, json_response, openai_error

Handler = Callable[[Request, SimEngine], Awaitable[Response]]
REQUEST_LOG_SIZE = 5000


class Simulator:
    def __init__(self, engine: SimEngine) -> None:
        self.engine = engine
        self.faults = FaultBook()
        # The newest requests only: a soak or a benchmark would otherwise grow it without end.
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.sessions: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        # Gemini Live's resumption handles: the conversation each continues.
        self.live_handles: dict[str, list[dict[str, Any]]] = {}

    async def serve(
        self, request: Request, credential: str | None, shape: ErrorShape, handler: Handler
    ) -> Response:
        self.requests.append(await _logged(request, credential))
        if not credential:
            return json_response(shape(401, "Incorrect or missing API key.", None), 401)
        fault = self.faults.next_for(credential)
        request.state.pace = pace_from_header(request.headers.get(PACE_HEADER))
        request.state.unstreamed = fault is not None and fault.kind == "unstreamed"
        request.state.uncapped = fault is not None and fault.kind == "uncapped"
        if fault is not None and fault.kind == "paced":
            request.state.pace = Pace(fault.first_chunk_ms, fault.chunk_interval_ms)
        if fault is not None and fault.kind in ("paced", "unstreamed", "uncapped"):
            fault = None
        return await answer(fault, shape, lambda: handler(request, self.engine))


Credential = Callable[[Request], str | None]
ModelOf = Callable[[Request], str | None]


def bearer(request: Request) -> str | None:
    return request.headers.get("authorization", "").removeprefix("Bearer ").strip() or None


def api_key(request: Request) -> str | None:
    return request.headers.get("api-key")


def api_key_or_bearer(request: Request) -> str | None:
    """Azure's /openai/v1/ surface takes either header (the OpenAI client sends Bearer)."""
    return api_key(request) or bearer(request)


def goog_api_key(request: Request) -> str | None:
    return request.headers.get("x-goog-api-key") or request.query_params.get("key")


def no_model(request: Request) -> str | None:
    return None


def deployment(request: Request) -> str | None:
    return str(request.path_params["deployment"])


def openai_style_routes(
    sim: Simulator, prefix: str, credential: Credential, model_of: ModelOf, *, versioned: bool
) -> list[Route]:
    """The four OpenAI audio paths under `prefix`, as OpenAI or one of Azure's surfaces has them."""

    async def dispatch(request: Request, handler: Any, **options: bool) -> Response:
        if versioned and not request.query_params.get("api-version"):
            return json_response(openai_error(404, "Resource not found", None), 404)
        model = model_of(request)

        async def handle(request: Request, engine: SimEngine) -> Response:
            response: Response = await handler(request, engine, model, **options)
            return response

        return await sim.serve(request, credential(request), openai_error, handle)

    paths: list[tuple[str, Any, dict[str, bool]]] = [
        ("audio/speech", openai.speech, {}),
        ("audio/transcriptions", openai.transcription, {"translate": False}),
        ("audio/translations", openai.transcription, {"translate": True}),
        ("chat/completions", chat.chat, {}),
    ]

    def route(path: str, handler: Any, options: dict[str, bool]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await dispatch(request, handler, **options)

        return Route(f"{prefix}/{path}", endpoint, methods=["POST"])

    return [route(path, handler, options) for path, handler, options in paths]


def create_simulator_app(*, fast: bool = False, data_dir: Path | None = None) -> Starlette:
    local = None if fast else LocalProvider(Settings(data_dir=data_dir or default_data_dir()))
    sim = Simulator(SimEngine(local))

    gemini_actions: dict[str, Handler] = {
        "generateContent": gemini.generate_content,
        "streamGenerateContent": gemini.stream_generate_content,
    }

    async def gemini_endpoint(request: Request) -> Response:
        _, _, action = request.path_params["model_action"].rpartition(":")
        handler = gemini_actions.get(action)
        if handler is None:
            return json_response(gemini_error(404, "Method not found.", None), 404)
        return await sim.serve(request, goog_api_key(request), gemini_error, handler)

    async def realtime_openai(websocket: WebSocket) -> None:
        key = websocket.headers.get("authorization", "").removeprefix("Bearer ").strip()
        await realtime(websocket, key or None)

    async def realtime_azure(websocket: WebSocket) -> None:
        await realtime(websocket, websocket.headers.get("api-key"))

    async def realtime(websocket: WebSocket, credential: str | None) -> None:
        fault = sim.faults.next_for(credential) if credential else None
        log: dict[str, Any] = {}
        sim.sessions.append(log)
        await serve_realtime(websocket, sim.engine, credential, fault, log)

    async def live(websocket: WebSocket) -> None:
        credential = websocket.headers.get("x-goog-api-key") or websocket.query_params.get("key")
        fault = sim.faults.next_for(credential) if credential else None
        log: dict[str, Any] = {}
        sim.sessions.append(log)
        await serve_live(websocket, sim.engine, sim.live_handles, fault, log)

    async def add_faults(request: Request) -> Response:
        sim.faults.add(FaultPlan.model_validate(await request.json()))
        return json_response({"ok": True})

    async def set_chaos(request: Request) -> Response:
        sim.faults.set_chaos(Chaos.model_validate(await request.json()))
        return json_response({"ok": True})

    async def reset(request: Request) -> Response:
        sim.faults.clear()
        sim.requests.clear()
        sim.sessions.clear()
        sim.live_handles.clear()
        return json_response({"ok": True})

    async def log(request: Request) -> Response:
        return json_response({"requests": list(sim.requests)})

    async def sessions(request: Request) -> Response:
        return json_response({"sessions": list(sim.sessions)})

    routes = [
        *openai_style_routes(sim, "/v1", bearer, no_model, versioned=False),
        *openai_style_routes(sim, "/openai/v1", api_key_or_bearer, no_model, versioned=False),
        *openai_style_routes(
            sim, "/openai/deployments/{deployment}", api_key, deployment, versioned=True
        ),
        Route("/v1beta/models/{model_action}", gemini_endpoint, methods=["POST"]),
        Route("/v1/models/{model_action}", gemini_endpoint, methods=["POST"]),
        WebSocketRoute("/v1/realtime", realtime_openai),
        WebSocketRoute("/openai/realtime", realtime_azure),
        WebSocketRoute("/openai/v1/realtime", realtime_azure),
        WebSocketRoute(LIVE_PATH, live),
        Route("/_sim/faults", add_faults, methods=["POST"]),
        Route("/_sim/chaos", set_chaos, methods=["POST"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/requests", log, methods=["GET"]),
        Route("/_sim/realtime", sessions, methods=["GET"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sim.engine.warm_up()
        yield
        if local is not None:
            await local.aclose()

    return Starlette(routes=routes, lifespan=lifespan)


def create_simulator_app_from_env() -> Starlette:
    """The factory `voxgate sim` runs: options arrive as VOXGATE_SIM_* variables."""
    return create_simulator_app(
        fast=os.environ.get("VOXGATE_SIM_FAST") == "1",
        data_dir=Path(os.environ["VOXGATE_DATA_DIR"]) if "VOXGATE_DATA_DIR" in os.environ else None,
    )


AUTH_HEADERS = ("authorization", "api-key", "x-goog-api-key")


async def _logged(request: Request, credential: str | None) -> dict[str, Any]:
    """What tests assert on: where the call went, with which key and auth header, its size,
    its JSON body, and a multipart form's fields (a file's content type in place of its bytes)."""
    content_type = request.headers.get("content-type", "")
    body = None
    if content_type.startswith("application/json"):
        try:
            body = orjson.loads(await request.body() or b"null")
        except orjson.JSONDecodeError:
            body = None
    return {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "credential": credential,
        "auth_headers": [name for name in AUTH_HEADERS if name in request.headers],
        "body_bytes": len(await request.body()),
        "body": body,
        "form": await _form_fields(request) if content_type.startswith("multipart/") else None,
    }


async def _form_fields(request: Request) -> dict[str, list[Any]] | None:
    await request.body()  # kept, so the handler can still measure and parse the upload
    try:
        form = await request.form()
    except (AssertionError, ValueError, MultiPartException):
        return None
    fields: dict[str, Any] = {}
    for name, value in form.multi_items():
        logged = {"file": value.content_type} if isinstance(value, UploadFile) else value
        fields.setdefault(name, []).append(logged)
    return fields
