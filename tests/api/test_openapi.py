from starlette.routing import Route

from voxgate.api.openapi import document
from voxgate.app import create_app
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

UNDOCUMENTED = ("/docs/", "/{lang:str}/docs/", "/openapi.json")


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
