"""JSON bodies and query strings parsed into pydantic models, with errors naming the field."""

from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from voxgate.errors import InvalidRequestError

ModelT = TypeVar("ModelT", bound=BaseModel)


async def json_body(request: Request) -> object:
    return parse_json(await request.body())


def parse_json(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"The request body is not valid JSON: {exc}.", code="invalid_json"
        ) from exc


async def parse_body(request: Request, model: type[ModelT]) -> ModelT:
    return parse(model, await json_body(request))


def parse_query(request: Request, model: type[ModelT]) -> ModelT:
    """The query string's parameters, each given once: a repeated one is refused by name
    rather than one of its values picked silently."""
    for name in request.query_params:
        if len(request.query_params.getlist(name)) > 1:
            raise InvalidRequestError(
                f"The query parameter '{name}' is given more than once.",
                param=name,
                code="invalid_value",
            )
    return parse(model, dict(request.query_params))


def parse(model: type[ModelT], data: object) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidRequestError(
            f"Invalid value for '{field}': {first['msg']}." if field else first["msg"],
            param=field,
            code="invalid_value",
        ) from exc
