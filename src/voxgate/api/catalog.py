"""GET /api/v1/models and /api/v1/models/{id}: the catalog as the docs pages show it."""

from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from voxgate.api.bodies import parse_query
from voxgate.api.context import services_of
from voxgate.api.responses import JSONResponse
from voxgate.catalog.schema import ModelRow
from voxgate.errors import NotFoundError
from voxgate.money import MICRO, format_usd
from voxgate.types import MicroUSD, Modality, Task


class ModelFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: Task | None = None
    modality: Modality | None = None


async def list_catalog(request: Request) -> Response:
    services = services_of(request)
    wanted = parse_query(request, ModelFilter)
    rows = [row for row in services.catalog if _matches(row, wanted)]
    return JSONResponse({"object": "list", "data": [model_body(row) for row in rows]})


async def get_catalog_model(request: Request) -> Response:
    model_id = request.path_params["model_id"]
    row = services_of(request).catalog.get(model_id)
    if row is None:
        raise NotFoundError(
            f"The model '{model_id}' does not exist.", param="model", code="model_not_found"
        )
    return JSONResponse(model_body(row))


def _matches(row: ModelRow, wanted: ModelFilter) -> bool:
    modalities = (*row.modalities.input, *row.modalities.output)
    return (wanted.task is None or wanted.task in row.tasks) and (
        wanted.modality is None or wanted.modality in modalities
    )


def model_body(row: ModelRow) -> dict[str, Any]:
    return {
        "object": "catalog.model",
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "provider": row.provider,
        "providers": sorted({route.provider for route in row.routes}),
        "endpoint_type": row.endpoint_type,
        "tasks": row.tasks,
        "modalities": {"input": row.modalities.input, "output": row.modalities.output},
        "context_window": row.context_window,
        "max_output_tokens": row.max_output_tokens,
        "default_output_tokens": row.default_output_tokens,
        "aliases": [alias.model_dump() for alias in row.aliases],
        "pricing": _pricing(row),
        "voices": row.voices,
        "formats": row.formats,
        "languages": row.languages,
        "fields": [spec.model_dump(exclude_none=True) for spec in row.fields],
        "example": row.example,
    }


def _pricing(row: ModelRow) -> dict[str, str]:
    """Dollar strings with six decimals, only for the unit kinds the row bills."""
    prices = row.pricing.model_dump(exclude_none=True)
    return {name: format_usd(MicroUSD(round(price * MICRO))) for name, price in prices.items()}
