"""The ASGI application: routes, middleware and error handlers around the services."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from voxgate.api.audio import create_audio
from voxgate.api.errors import gateway_error, http_error, unexpected_error
from voxgate.api.health import healthz, readyz
from voxgate.api.middleware.body_limit import BodyLimitMiddleware
from voxgate.api.middleware.request_id import RequestIdMiddleware
from voxgate.errors import GatewayError
from voxgate.services import open_services
from voxgate.settings import Settings


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await open_services(settings, dict(os.environ))
        app.state.services = services
        if settings.engine_preload:
            await services.local.preload()
        try:
            yield
        finally:
            await services.aclose()

    return Starlette(
        routes=[
            Route("/api/v1/audio", create_audio, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes),
        ],
        exception_handlers={
            GatewayError: gateway_error,
            HTTPException: http_error,
            Exception: unexpected_error,
        },
        lifespan=lifespan,
    )
