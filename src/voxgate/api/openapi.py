"""GET /openapi.json: every public endpoint, its body, and the OpenAI error shape."""

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from voxgate import __version__
from voxgate.api.admin import CreditChange, NewKey, NewWorkspace, WorkspaceSettings
from voxgate.api.catalog import ModelFilter
from voxgate.api.context import services_of
from voxgate.api.openai.chat_body import ChatCompletionBody
from voxgate.api.openai.realtime import (
    ClientSecretBody,
    SessionBody,
    TranscriptionSessionBody,
)
from voxgate.api.openapi_admin import ADMIN_MONEY_OPERATIONS, REF_TEMPLATE
from voxgate.api.responses import JSONResponse
from voxgate.api.usage import UsageQuery
from voxgate.catalog.loader import Catalog

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
SPEECH_BODY = {
    "type": "object",
    "required": ["model", "input", "voice"],
    "properties": {
        "model": {"type": "string"},
        "input": {"type": "string"},
        "voice": {
            "anyOf": [
                {"type": "string"},
                {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
            ]
        },
        "instructions": {"type": "string"},
        "response_format": {"enum": ["mp3", "opus", "aac", "flac", "wav", "pcm"]},
        "speed": {"type": "number", "minimum": 0.25, "maximum": 4.0},
        "stream_format": {"enum": ["audio", "sse"]},
    },
}
BINARY = {"type": "string", "format": "binary"}
# What a 200 carries where it is not JSON (or not only JSON): audio by its format, text
# formats of transcripts, and server-sent events when streamed.
SPEECH_ANSWER = {
    **{
        media: {"schema": BINARY}
        for media in (
            "audio/mpeg",
            "audio/ogg",
            "audio/aac",
            "audio/flac",
            "audio/wav",
            "audio/pcm",
        )
    },
    "text/event-stream": {"schema": {"type": "string"}},
}
TRANSCRIPT_ANSWER = {
    "application/json": {"schema": {"type": "object"}},
    "text/plain": {"schema": {"type": "string"}},
    "text/vtt": {"schema": {"type": "string"}},
    "text/event-stream": {"schema": {"type": "string"}},
}
JSON_ANSWER = {"application/json": {"schema": {"type": "object"}}}
ANSWERS: dict[str, dict[str, Any]] = {
    "/v1/audio/speech": SPEECH_ANSWER,
    "/v1/audio/transcriptions": TRANSCRIPT_ANSWER,
    "/v1/audio/translations": TRANSCRIPT_ANSWER,
    "/v1/chat/completions": {**JSON_ANSWER, "text/event-stream": {"schema": {"type": "string"}}},
    "/metrics": {"text/plain": {"schema": {"type": "string"}}},
    "/v1/realtime/calls": {"application/sdp": {"schema": {"type": "string"}}},
    "/api/v1/usage": {**JSON_ANSWER, "text/csv": {"schema": {"type": "string"}}},
}
# Pydantic's references, pointed at the document's components instead of a local $defs.
# (method, path, summary, auth, request body schema or None, query model or None)
Operation = tuple[str, str, str, str | None, dict[str, Any] | None, type[BaseModel] | None]


async def openapi(request: Request) -> Response:
    services = services_of(request)
    # Behind a proxy the request's own origin (its Host, and the scheme a trusted proxy's
    # X-Forwarded-Proto gave) is the public one, unless VOXGATE_PUBLIC_URL says otherwise.
    base_url = services.settings.public_url or str(request.base_url).rstrip("/")
    return JSONResponse(document(services.catalog, base_url))


# The operations that answer 201 Created rather than 200.
CREATED = frozenset(
    {
        ("post", "/admin/v1/workspaces"),
        ("post", "/admin/v1/workspaces/{workspace_id}/keys"),
        ("post", "/admin/v1/workspaces/{workspace_id}/budgets"),
        ("post", "/admin/v1/workspaces/{workspace_id}/owner_tokens"),
        ("post", "/admin/v1/webhooks"),
    }
)


def document(catalog: Catalog, base_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR}
    for method, path, summary, auth, body, query in operations(catalog):
        if body is not None:
            schemas.update(body.pop("$defs", {}))
        operation = _operation(summary, auth, body, _query_schema(query, schemas), path)
        operation["operationId"] = _operation_id(method, path)
        if (method, path) in CREATED:
            operation["responses"]["201"] = operation["responses"].pop("200")
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "voxgate",
            "version": __version__,
            "description": "A unified audio AI gateway: one endpoint and one key.",
        },
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "workspaceKey": {"type": "http", "scheme": "bearer"},
                "adminToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def operations(catalog: Catalog) -> list[Operation]:
    multipart = {
        "type": "object",
        "required": ["file", "model"],
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "model": {"type": "string"},
            "language": {"type": "string"},
            "prompt": {"type": "string"},
            "response_format": {"enum": ["json", "text", "srt", "verbose_json", "vtt"]},
            "stream": {"type": "boolean"},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "timestamp_granularities[]": {
                "type": "array",
                "items": {"enum": ["word", "segment"]},
                "description": "With response_format verbose_json.",
            },
            "include[]": {"type": "array", "items": {"enum": ["logprobs"]}},
            "chunking_strategy": {"type": "string"},
        },
    }
    return [
        (
            "post",
            "/api/v1/audio",
            "The unified audio endpoint: speech, audio chat, realtime setup, speech-to-text.",
            "workspaceKey",
            unified_body(catalog),
            None,
        ),
        ("get", "/api/v1/models", "The model catalog.", None, None, ModelFilter),
        (
            "get",
            "/api/v1/models/{model_id}",
            "One catalog model with its field table.",
            None,
            None,
            None,
        ),
        (
            "get",
            "/api/v1/balance",
            "The workspace's balance and held credit.",
            "workspaceKey",
            None,
            None,
        ),
        (
            "get",
            "/api/v1/keys",
            "The workspace's keys (never their secrets).",
            "workspaceKey",
            None,
            None,
        ),
        (
            "get",
            "/api/v1/usage",
            "The workspace's usage records, newest first.",
            "workspaceKey",
            None,
            UsageQuery,
        ),
        ("get", "/api/v1/usage/{request_id}", "One usage record.", "workspaceKey", None, None),
        (
            "post",
            "/v1/audio/speech",
            "OpenAI-compatible speech.",
            "workspaceKey",
            SPEECH_BODY,
            None,
        ),
        (
            "post",
            "/v1/audio/transcriptions",
            "OpenAI-compatible transcription.",
            "workspaceKey",
            multipart,
            None,
        ),
        (
            "post",
            "/v1/audio/translations",
            "OpenAI-compatible translation.",
            "workspaceKey",
            multipart,
            None,
        ),
        (
            "post",
            "/v1/chat/completions",
            "OpenAI-compatible chat completions on audio models.",
            "workspaceKey",
            ChatCompletionBody.model_json_schema(ref_template=REF_TEMPLATE),
            None,
        ),
        ("get", "/v1/models", "OpenAI-compatible model list.", "workspaceKey", None, None),
        (
            "post",
            "/v1/realtime/client_secrets",
            "Mint a short-lived realtime secret (ek_…).",
            "workspaceKey",
            ClientSecretBody.model_json_schema(ref_template=REF_TEMPLATE),
            None,
        ),
        (
            "post",
            "/v1/realtime/sessions",
            "Mint a realtime session (the older shape).",
            "workspaceKey",
            SessionBody.model_json_schema(ref_template=REF_TEMPLATE),
            None,
        ),
        (
            "post",
            "/v1/realtime/transcription_sessions",
            "Mint a realtime transcription session (the beta shape).",
            "workspaceKey",
            TranscriptionSessionBody.model_json_schema(ref_template=REF_TEMPLATE),
            None,
        ),
        (
            "post",
            "/v1/realtime/calls",
            "A WebRTC call: the SDP offer (application/sdp, or multipart sdp and session); "
            "answers 201 with the SDP answer.",
            "workspaceKey",
            None,
            None,
        ),
        (
            "post",
            "/v1/realtime/calls/{call_id}/hangup",
            "End a WebRTC call of the key's workspace.",
            "workspaceKey",
            None,
            None,
        ),
        (
            "get",
            "/v1/realtime",
            "The realtime WebSocket (upgrade): a workspace key or minted secret.",
            "workspaceKey",
            None,
            None,
        ),
        ("get", "/v1/models/{model_id}", "One model, OpenAI-style.", "workspaceKey", None, None),
        (
            "post",
            "/admin/v1/workspaces",
            "Create a workspace.",
            "adminToken",
            NewWorkspace.model_json_schema(ref_template=REF_TEMPLATE),
            None,
        ),
        ("get", "/admin/v1/workspaces", "List workspaces.", "adminToken", None, None),
        (
            "get",
            "/admin/v1/workspaces/{workspace_id}",
            "One workspace and its balance.",
            "adminToken",
            None,
            None,
        ),
        (
            "patch",
            "/admin/v1/workspaces/{workspace_id}",
            "Change a workspace's settings (the speech cache); one left out stays.",
            "adminToken",
            WorkspaceSettings.model_json_schema(ref_template=REF_TEMPLATE),
            None,
        ),
        (
            "post",
            "/admin/v1/workspaces/{workspace_id}/credit",
            "Add or remove credit.",
            "adminToken",
            CreditChange.model_json_schema(ref_template=REF_TEMPLATE),
            None,
        ),
        (
            "post",
            "/admin/v1/workspaces/{workspace_id}/keys",
            "Create a key (the secret is shown once).",
            "adminToken",
            NewKey.model_json_schema(ref_template=REF_TEMPLATE),
            None,
        ),
        (
            "get",
            "/admin/v1/workspaces/{workspace_id}/keys",
            "List a workspace's keys.",
            "adminToken",
            None,
            None,
        ),
        (
            "post",
            "/admin/v1/workspaces/{workspace_id}/keys/{key_id}/revoke",
            "Revoke a key.",
            "adminToken",
            None,
            None,
        ),
        (
            "get",
            "/admin/v1/workspaces/{workspace_id}/usage",
            "A workspace's recent usage.",
            "adminToken",
            None,
            None,
        ),
        *ADMIN_MONEY_OPERATIONS,
        ("get", "/healthz", "Liveness.", None, None, None),
        ("get", "/readyz", "Readiness (the database answers).", None, None, None),
        (
            "get",
            "/metrics",
            "Prometheus metrics: requests, latency, attempts, failovers, holds, credit.",
            None,
            None,
            None,
        ),
    ]


def unified_body(catalog: Catalog) -> dict[str, Any]:
    """Every field any catalog row accepts; each model accepts only its own (see its page)."""
    properties: dict[str, Any] = {}
    for row in catalog:
        for spec in row.fields:
            schema = properties.setdefault(
                spec.name, {"type": spec.type, "description": spec.description}
            )
            if spec.accepted:
                schema["enum"] = sorted({*schema.get("enum", []), *spec.accepted})
    return {"type": "object", "required": ["model", "input"], "properties": properties}


def _operation(
    summary: str,
    auth: str | None,
    body: dict[str, Any] | None,
    query: dict[str, Any] | None,
    path: str,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": "Success.", "content": ANSWERS.get(path, JSON_ANSWER)},
            "default": {
                "description": "An error in the OpenAI shape.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if auth:
        operation["security"] = [{auth: []}]
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_parameters(path)
    ]
    if query is not None:
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in query["properties"].items()
        ]
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        media = "multipart/form-data" if "/audio/t" in path else "application/json"
        operation["requestBody"] = {"required": True, "content": {media: {"schema": body}}}
    return operation


def _query_schema(query: type[BaseModel] | None, schemas: dict[str, Any]) -> dict[str, Any] | None:
    if query is None:
        return None
    schema = query.model_json_schema(ref_template=REF_TEMPLATE)
    schemas.update(schema.pop("$defs", {}))
    return schema


def _operation_id(method: str, path: str) -> str:
    """`post /v1/audio/speech` → `post_v1_audio_speech`: unique, stable, a valid identifier."""
    words = [part.strip("{}") for part in path.split("/") if part]
    return "_".join([method, *words]).replace("-", "_").replace(":", "_")


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
