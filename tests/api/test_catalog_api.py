"""The catalog as an API, in process: public, filterable, equal to the data files, and its
aliases as the official openai client lists them. (Aliases served, recorded and failed over
on a real gateway: tests/e2e/test_catalog_api.py.)"""

from collections.abc import AsyncIterator

import pytest

from tests.database_fixtures import SqliteTemplate
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings
from voxgate.testing import BASE_URL, InProcessGateway

CATALOG = load_catalog(Settings().catalog_dir)


@pytest.fixture(scope="module")
async def vox(
    tmp_path_factory: pytest.TempPathFactory, sqlite_migrated: SqliteTemplate
) -> AsyncIterator[InProcessGateway]:
    data_dir = sqlite_migrated.copy_into(tmp_path_factory.mktemp("catalog"))
    async with InProcessGateway(data_dir) as running:
        yield running


async def test_every_model_with_its_field_table(vox: InProcessGateway) -> None:
    listed = (await vox.http.get("/api/v1/models")).json()["data"]
    assert {model["id"] for model in listed} == {row.id for row in CATALOG}
    seed = (await vox.http.get("/api/v1/models/gpt-audio-1.5")).json()
    assert (seed["provider"], seed["endpoint_type"]) == ("azure-openai", "azure_openai_audio")
    assert (seed["context_window"], seed["max_output_tokens"]) == (128_000, 16_384)
    assert seed["pricing"] == {
        "minimum_hold_usd": "0.010000",
        "text_input_per_1m_tokens": "2.500000",
        "text_output_per_1m_tokens": "10.000000",
    }
    row = CATALOG.get("gpt-audio-1.5")
    assert row is not None
    assert seed["fields"] == [
        spec.model_dump(exclude_none=True, mode="json") for spec in row.fields
    ]


async def test_filters_by_task_and_modality(vox: InProcessGateway) -> None:
    url = "/api/v1/models"
    stt = {
        m["id"] for m in (await vox.http.get(url, params={"task": "transcription"})).json()["data"]
    }
    assert stt == {row.id for row in CATALOG if "transcription" in row.tasks}
    text_only = (await vox.http.get(url, params={"modality": "text", "task": "tts"})).json()["data"]
    assert all("tts" in m["tasks"] for m in text_only) and text_only
    bad = await vox.http.get(url, params={"modality": "video"})
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "modality")
    assert (await vox.http.get(f"{url}/no-such-model")).status_code == 404


async def test_openapi_is_served(vox: InProcessGateway) -> None:
    spec = (await vox.http.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert spec["servers"] == [{"url": BASE_URL}]  # the address it was asked at
    assert "post" in spec["paths"]["/v1/audio/speech"]


async def test_aliases_are_listed_by_the_openai_client(vox: InProcessGateway) -> None:
    listed = {model.id: model.owned_by async for model in vox.openai.models.list()}
    for alias, row in CATALOG.aliases().items():
        assert listed[alias] == row.provider
    assert {row.id for row in CATALOG} <= set(listed)
    assert (await vox.openai.models.retrieve("tts-1")).id == "tts-1"


async def test_the_catalog_api_shows_each_rows_aliases(vox: InProcessGateway) -> None:
    body = (await vox.http.get("/api/v1/models/gpt-4o-mini-tts")).json()
    assert [alias["id"] for alias in body["aliases"]] == ["tts-1", "tts-1-hd"]
    assert all(alias["reason"] for alias in body["aliases"])
    by_alias = (await vox.http.get("/api/v1/models/tts-1")).json()
    assert by_alias["id"] == "gpt-4o-mini-tts"
