"""JSON responses encoded once with orjson, and errors in the OpenAI shape."""

from typing import Any

import orjson
from starlette.responses import Response

from voxgate.errors import GatewayError


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: GatewayError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)
