"""GET /v1/models and /v1/models/{id}, in OpenAI's list shape."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from voxgate.api.auth import authenticate
from voxgate.api.responses import JSONResponse
from voxgate.catalog.schema import ModelRow
from voxgate.errors import NotFoundError
from voxgate.services import services_of

# The catalog has no creation times; one fixed value keeps the field an integer, as SDKs want.
CREATED = 1_764_000_000


async def list_models(request: Request) -> Response:
    services = services_of(request)
    await authenticate(request, services)
    return JSONResponse({"object": "list", "data": [_model(row) for row in services.catalog]})


async def get_model(request: Request) -> Response:
    services = services_of(request)
    await authenticate(request, services)
    model_id = request.path_params["model_id"]
    row = services.catalog.get(model_id)
    if row is None:
        raise NotFoundError(
            f"The model '{model_id}' does not exist.", param="model", code="model_not_found"
        )
    return JSONResponse(_model(row))


def _model(row: ModelRow) -> dict[str, Any]:
    return {"id": row.id, "object": "model", "created": CREATED, "owned_by": row.provider}
