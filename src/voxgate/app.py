"""The ASGI application: routes, middleware and error handlers around the services."""

import asyncio
import gc
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from voxgate.api import admin, admin_budgets, admin_webhooks
from voxgate.api.audio import create_audio
from voxgate.api.catalog import get_catalog_model, list_catalog
from voxgate.api.console.routes import ROUTES as CONSOLE_ROUTES
from voxgate.api.docs.pages import HERE as DOCS_DIR
from voxgate.api.docs.pages import DocsPages, model_page, models_page
from voxgate.api.errors import (
    conflict_error,
    database_error,
    gateway_error,
    http_error,
    unexpected_error,
)
from voxgate.api.health import healthz, metrics, readyz
from voxgate.api.middleware.azure import AzurePathsMiddleware
from voxgate.api.middleware.idempotency import IdempotencyMiddleware
from voxgate.api.middleware.metrics import MetricsMiddleware
from voxgate.api.middleware.request_id import RequestIdMiddleware
from voxgate.api.middleware.request_limits import RequestLimitsMiddleware
from voxgate.api.middleware.tracing import TracingMiddleware
from voxgate.api.openai.chat import create_chat_completion
from voxgate.api.openai.models import get_model, list_models
from voxgate.api.openai.realtime import (
    create_client_secret,
    create_session,
    create_transcription_session,
    realtime_over_http,
    realtime_socket,
)
from voxgate.api.openai.realtime_calls import create_call, hang_up_call
from voxgate.api.openai.speech import create_speech
from voxgate.api.openai.transcriptions import create_transcription, create_translation
from voxgate.api.openapi import openapi
from voxgate.api.usage import get_balance, get_usage, list_keys, list_usage
from voxgate.errors import GatewayError
from voxgate.providers.registry import build_registry
from voxgate.services import RegistryFactory, Services, open_services
from voxgate.settings import Settings
from voxgate.store.database import DatabaseUnavailableError

logger = logging.getLogger("voxgate")
DOCS_STATIC = DOCS_DIR / "static"


async def reap_forever(services: Services) -> None:
    """Release the holds of requests that died (a killed process), at start and then often."""
    while True:
        try:
            released = await services.holds.reap_expired()
        except Exception:
            logger.exception("releasing expired holds failed")
        else:
            if released:
                logger.warning("released %d expired holds", released)
        await asyncio.sleep(services.settings.reaper_interval_seconds)


async def checkpoint_forever(services: Services) -> None:
    """Keep SQLite's write-ahead log short, off the event loop's thread."""
    while True:
        await asyncio.sleep(services.settings.checkpoint_interval_seconds)
        try:
            await services.database.checkpoint()
        except Exception:
            logger.exception("checkpointing the database failed")


# What a database that is down, restarting or out of connections raises, through SQLAlchemy or
# straight from the drivers (the per-request SQL runs on them directly).
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    sqlite3.OperationalError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
    DatabaseUnavailableError,
)
CONFLICT_ERRORS: tuple[type[Exception], ...] = (
    IntegrityError,
    sqlite3.IntegrityError,
    asyncpg.IntegrityConstraintViolationError,
)


def create_app(
    settings: Settings | None = None,
    *,
    environment: Mapping[str, str] | None = None,
    providers: RegistryFactory = build_registry,
) -> Starlette:
    """The app; `environment` (the process's by default) holds the provider credentials, and
    `providers` builds the registry (a test's fakes, see `voxgate.testing`)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        credentials = dict(os.environ) if environment is None else environment
        services = await open_services(settings, credentials, providers)
        app.state.services = services
        app.state.metrics = services.metrics
        app.state.tracing = services.tracing
        app.state.docs = DocsPages(services.catalog)
        if settings.engine_preload:
            logger.info("loading the local models (VOXGATE_ENGINE_PRELOAD=false defers it)")
            started = time.perf_counter()
            await services.local.preload()
            logger.info("local models loaded in %.1f s", time.perf_counter() - started)
        # Ready means warm: uvicorn answers nothing, /readyz included, until start-up is done.
        await services.database.warm_up()
        await services.gateway.warm_up()
        # What start-up built lives as long as the process; full collections skip it.
        gc.freeze()
        chores = [
            asyncio.create_task(reap_forever(services)),
            asyncio.create_task(checkpoint_forever(services)),
            asyncio.create_task(services.courier.run_forever()),
        ]
        try:
            yield
        finally:
            for chore in chores:
                chore.cancel()
            await services.aclose()

    return Starlette(
        routes=[
            Route("/api/v1/audio", create_audio, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/api/v1/models", list_catalog, methods=["GET"]),
            Route("/api/v1/models/{model_id}", get_catalog_model, methods=["GET"]),
            Route("/api/v1/usage", list_usage, methods=["GET"]),
            Route("/api/v1/usage/{request_id}", get_usage, methods=["GET"]),
            Route("/api/v1/balance", get_balance, methods=["GET"]),
            Route("/api/v1/keys", list_keys, methods=["GET"]),
            Route("/v1/audio/speech", create_speech, methods=["POST"]),
            Route("/v1/audio/transcriptions", create_transcription, methods=["POST"]),
            Route("/v1/audio/translations", create_translation, methods=["POST"]),
            Route("/v1/chat/completions", create_chat_completion, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/realtime/client_secrets", create_client_secret, methods=["POST"]),
            Route("/v1/realtime/sessions", create_session, methods=["POST"]),
            Route("/v1/realtime/calls", create_call, methods=["POST"]),
            Route("/v1/realtime/calls/{call_id}/hangup", hang_up_call, methods=["POST"]),
            Route(
                "/v1/realtime/transcription_sessions",
                create_transcription_session,
                methods=["POST"],
            ),
            WebSocketRoute("/v1/realtime", realtime_socket),
            Route("/v1/realtime", realtime_over_http, methods=["GET"]),
            Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
            *admin.ROUTES,
            *admin_budgets.ROUTES,
            *admin_webhooks.ROUTES,
            Route("/docs/models", models_page, methods=["GET"]),
            Route("/docs/models/{model_id}", model_page, methods=["GET"]),
            Route("/{lang:str}/docs/models", models_page, methods=["GET"]),
            Route("/{lang:str}/docs/models/{model_id}", model_page, methods=["GET"]),
            Mount("/docs/static", StaticFiles(directory=DOCS_STATIC), name="docs-static"),
            *CONSOLE_ROUTES,
        ],
        middleware=[
            Middleware(RequestIdMiddleware, trusted_proxies=settings.trusted_proxies),
            # X-Forwarded-For and -Proto from a trusted proxy become the client and scheme.
            Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies),
            Middleware(TracingMiddleware),
            Middleware(MetricsMiddleware),
            Middleware(
                RequestLimitsMiddleware,
                max_header_bytes=settings.max_header_bytes,
                max_body_bytes=settings.max_body_bytes,
                body_timeout=settings.client_body_timeout_seconds,
                body_min_rate=settings.client_body_min_bytes_per_second,
            ),
            # Before idempotency and routing, which then see the OpenAI path.
            Middleware(AzurePathsMiddleware),
            Middleware(IdempotencyMiddleware),
        ],
        exception_handlers={
            GatewayError: gateway_error,
            HTTPException: http_error,
            **dict.fromkeys(DATABASE_ERRORS, database_error),
            # More specific than DBAPIError above: a uniqueness rule, not an outage.
            **dict.fromkeys(CONFLICT_ERRORS, conflict_error),
            Exception: unexpected_error,
        },
        lifespan=lifespan,
    )
