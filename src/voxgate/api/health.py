"""Liveness and readiness probes."""

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from voxgate.api.context import services_of
from voxgate.api.responses import JSONResponse
from voxgate.metrics import Books


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services = services_of(request)
    database_ok = await services.database.ping()
    status = 200 if database_ok else 503
    checks = {"database": database_ok, "catalog_models": len(services.catalog)}
    return JSONResponse({"status": "ready" if database_ok else "unavailable", **checks}, status)


async def metrics(request: Request) -> Response:
    services = services_of(request)
    books = Books(
        holds_open=await services.holds.open_count(),
        balances=await services.ledger.balances(),
        budgets=await services.budgets.current_use(),
    )
    text = services.metrics.render(books)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
