"""The catalog as an API: public, filterable, and equal to the data files."""

import httpx

from tests.gateway_process import RunningGateway
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)


def test_every_model_with_its_field_table(gateway: RunningGateway) -> None:
    listed = httpx.get(f"{gateway.base_url}/api/v1/models").json()["data"]
    assert {model["id"] for model in listed} == {row.id for row in CATALOG}
    seed = httpx.get(f"{gateway.base_url}/api/v1/models/gpt-audio-1.5").json()
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


def test_filters_by_task_and_modality(gateway: RunningGateway) -> None:
    url = f"{gateway.base_url}/api/v1/models"
    stt = {m["id"] for m in httpx.get(url, params={"task": "transcription"}).json()["data"]}
    assert stt == {row.id for row in CATALOG if "transcription" in row.tasks}
    text_only = httpx.get(url, params={"modality": "text", "task": "tts"}).json()["data"]
    assert all("tts" in m["tasks"] for m in text_only) and text_only
    bad = httpx.get(url, params={"modality": "video"})
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "modality")
    assert httpx.get(f"{url}/no-such-model").status_code == 404


def test_openapi_is_served(gateway: RunningGateway) -> None:
    spec = httpx.get(f"{gateway.base_url}/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert spec["servers"] == [{"url": gateway.base_url}]
    assert "post" in spec["paths"]["/v1/audio/speech"]
