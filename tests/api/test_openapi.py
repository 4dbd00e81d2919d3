import json
from collections.abc import Iterator
from typing import Any

from starlette.routing import Route

from voxgate.api.openapi import document
from voxgate.app import create_app
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

UNDOCUMENTED = ("/docs/", "/{lang:str}/docs/", "/openapi.json", "/console")


def test_every_public_route_is_described() -> None:
    settings = Settings()
    spec = document(load_catalog(settings.catalog_dir), settings.base_url)
    routes = [r for r in create_app(settings).routes if isinstance(r, Route)]
    for route in routes:
        if route.path.startswith(UNDOCUMENTED):
            continue
        for method in route.methods or ():
            if method == "HEAD":
                continue
            assert method.lower() in spec["paths"].get(route.path.replace(":path", ""), {}), (
                method,
                route.path,
            )
    assert set(spec["paths"]) >= {"/api/v1/audio", "/v1/chat/completions", "/admin/v1/workspaces"}


def test_the_unified_body_lists_every_catalog_field() -> None:
    settings = Settings()
    spec = document(load_catalog(settings.catalog_dir), settings.base_url)
    body = spec["paths"]["/api/v1/audio"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert {"model", "task", "input", "voice", "response_format", "speed", "instructions"} <= set(
        body["properties"]
    )
    assert "gpt-audio-1.5" in body["properties"]["model"]["enum"]


def spec() -> dict[str, Any]:
    settings = Settings()
    return document(load_catalog(settings.catalog_dir), settings.base_url)


def refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document_: dict[str, Any], ref: str) -> object:
    assert ref.startswith("#/"), ref
    node: object = document_
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, ref
        node = node[part]
    return node


def test_every_reference_resolves() -> None:
    document_ = spec()
    found = list(refs(document_))
    assert found, "the chat body's nested models are referenced"
    for ref in found:
        resolve(document_, ref)
    assert "$defs" not in json.dumps(document_)


def test_every_operation_has_a_unique_operation_id() -> None:
    ids = [
        operation["operationId"]
        for methods in spec()["paths"].values()
        for operation in methods.values()
    ]
    assert all(isinstance(name, str) and name.isidentifier() for name in ids)
    assert len(ids) == len(set(ids))


def test_audio_answers_declare_their_content_types() -> None:
    paths = spec()["paths"]
    speech = paths["/v1/audio/speech"]["post"]["responses"]["200"]["content"]
    assert {"audio/mpeg", "audio/wav", "audio/ogg", "audio/flac", "audio/aac", "audio/pcm"} <= set(
        speech
    )
    transcript = paths["/v1/audio/transcriptions"]["post"]["responses"]["200"]["content"]
    assert {"application/json", "text/plain"} <= set(transcript)


def test_the_multipart_schema_has_every_openai_field() -> None:
    body = spec()["paths"]["/v1/audio/transcriptions"]["post"]["requestBody"]["content"]
    properties = body["multipart/form-data"]["schema"]["properties"]
    assert properties["timestamp_granularities[]"]["type"] == "array"
    assert properties["temperature"]["type"] == "number"
    assert properties["file"] == {"type": "string", "format": "binary"}
