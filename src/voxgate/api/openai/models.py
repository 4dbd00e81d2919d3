"""GET /v1/models and /v1/models/{id}, in OpenAI's list shape."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from voxgate.api.auth import authenticate
from voxgate.api.context import services_of
from voxgate.api.responses import JSONResponse
from voxgate.catalog.schema import ModelRow
from voxgate.errors import NotFoundError

# The catalog has no creation times; one fixed value keeps the field an integer, as SDKs want.
CREATED = 1_764_000_000


async def list_models(request: Request) -> Response:
    services = services_of(request)
    await authenticate(request, services)
    rows = [_model(row.id, row) for row in services.catalog]
    aliases = [_model(alias, row) for alias, row in services.catalog.aliases().items()]
    return JSONResponse({"object": "list", "data": rows + aliases})


async def get_model(request: Request) -> Response:
    services = services_of(request)
    await authenticate(request, services)
    model_id = request.path_params["model_id"]
    row = services.catalog.get(model_id)
    if row is None:
        raise NotFoundError(
            f"The model '{model_id}' does not exist.", param="model", code="model_not_found"
        )
    return JSONResponse(_model(model_id, row))


def _model(model_id: str, row: ModelRow) -> dict[str, Any]:
    """An alias is listed under its own name, as the clients that send it look it up."""
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": row.provider}
