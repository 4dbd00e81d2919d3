import pytest

from voxgate.catalog.loader import load_catalog
from voxgate.errors import ServiceUnavailableError
from voxgate.routing.planner import RoutePlanner
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)


def row(model_id: str):  # type: ignore[no-untyped-def]
    found = CATALOG.get(model_id)
    assert found is not None
    return found


def test_a_route_without_credentials_needs_only_its_provider() -> None:
    attempts = RoutePlanner({}).plan(row("local-tts"), {"local": "the-local-provider"}.get)
    assert [(a.provider, a.upstream.model, a.label) for a in attempts] == [
        ("the-local-provider", "piper", "local/piper")
    ]


def test_missing_credentials_name_the_environment_variables() -> None:
    with pytest.raises(ServiceUnavailableError) as caught:
        RoutePlanner({}).plan(row("gpt-audio-1.5"), {"azure-openai": object()}.get)
    assert "AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT" in caught.value.message
    assert caught.value.status_code == 503


def test_configured_credentials_become_upstreams_without_leaking_the_secret() -> None:
    environment = {
        "AZURE_OPENAI_API_KEY": "sk-secret",
        "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9",
    }
    attempts = RoutePlanner(environment).plan(row("gpt-audio-1.5"), {"azure-openai": object()}.get)
    assert len(attempts) == 1
    upstream = attempts[0].upstream
    assert upstream.base_url == "http://127.0.0.1:9"
    assert upstream.credential is not None
    assert upstream.credential.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(attempts[0])
    assert attempts[0].label == "azure-openai/gpt-audio-1.5#azure-openai"


def test_a_provider_missing_from_the_build_is_named() -> None:
    environment = {"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9"}
    with pytest.raises(ServiceUnavailableError) as caught:
        RoutePlanner(environment).plan(row("gpt-audio-1.5"), {"local": object()}.get)
    assert "'azure-openai' provider" in caught.value.message
