"""The access line carries what the gateway recorded for the request, from the handler or from
a streamed answer's own task."""

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from voxgate.api.middleware.metrics import MetricsMiddleware
from voxgate.logs import ACCESS_LOGGER, record_usage


async def settled(request: Request) -> Response:
    record_usage(model="gpt-4o-mini-tts", route="openai/gpt-4o-mini-tts#openai", cost_micro_usd=42)
    return JSONResponse({"ok": True})


async def streamed(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        record_usage(model="local-tts", route="local/piper", cost_micro_usd=7)
        yield b"last"

    return StreamingResponse(chunks(), media_type="audio/pcm")


async def unbilled(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


APP = Starlette(
    routes=[
        Route("/settled", settled, methods=["POST"]),
        Route("/streamed", streamed, methods=["POST"]),
        Route("/healthz", unbilled),
    ],
    middleware=[Middleware(MetricsMiddleware)],
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "/settled",
            {
                "model": "gpt-4o-mini-tts",
                "route": "openai/gpt-4o-mini-tts#openai",
                "cost_micro_usd": 42,
            },
        ),
        ("/streamed", {"model": "local-tts", "route": "local/piper", "cost_micro_usd": 7}),
    ],
)
async def test_the_access_line_carries_the_recorded_usage(
    path: str, expected: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post(path)).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
    first, second = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    assert {name: getattr(first, name) for name in expected} == expected
    assert first.path == path and first.status == 200
    # The next request starts with a fresh record.
    assert (second.model, second.route, second.cost_micro_usd) == ("-", "-", None)
