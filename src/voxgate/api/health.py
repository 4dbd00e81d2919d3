"""Liveness and readiness probes, and the metrics.

The metrics name every model's traffic and spend and the admin API's activity: they are not
public. With `metrics_token` set, /metrics takes that bearer token from anywhere; without it,
only a client on the gateway's own host (loopback) may read them, as a Prometheus beside it
or a proxy that allows /metrics from the scrapers alone."""

import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from voxgate.api.context import services_of
from voxgate.api.responses import JSONResponse
from voxgate.errors import AuthenticationError, GatewayError
from voxgate.metrics import Books

BEARER = "bearer "


class MetricsForbiddenError(GatewayError):
    status_code = 403
    error_type = "permission_error"
    default_code = "metrics_forbidden"


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
    _check_metrics_access(request, services.settings.metrics_token)
    books = Books(
        holds_open=await services.holds.open_count(),
        balances=await services.ledger.balances(),
        budgets=await services.budgets.current_use(),
    )
    text = services.metrics.render(books)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


def _check_metrics_access(request: Request, token: str | None) -> None:
    if token:
        header = request.headers.get("authorization", "")
        given = header[len(BEARER) :].strip() if header.lower().startswith(BEARER) else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise AuthenticationError(
                "The metrics need 'Authorization: Bearer <metrics token>'.",
                code="invalid_metrics_token",
            )
        return
    if not _on_this_host(request):
        raise MetricsForbiddenError(
            "The metrics are served to this host only; set VOXGATE_METRICS_TOKEN to scrape "
            "them from elsewhere."
        )


def _on_this_host(request: Request) -> bool:
    # The client as the proxy headers middleware left it: behind a trusted proxy, the address
    # the proxy forwarded for.
    if request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False
