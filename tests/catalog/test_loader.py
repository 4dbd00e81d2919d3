from pathlib import Path

import pytest
import yaml

from voxgate.catalog.export import SCHEMA_FILE, model_row_json_schema
from voxgate.catalog.loader import CatalogError, load_catalog
from voxgate.settings import Settings

CATALOG_DIR = Settings().catalog_dir


def copy_catalog(target: Path) -> Path:
    (target / "models").mkdir(parents=True)
    for path in (CATALOG_DIR / "models").glob("*.yaml"):
        (target / "models" / path.name).write_text(path.read_text())
    (target / "voices.yaml").write_text((CATALOG_DIR / "voices.yaml").read_text())
    return target


def test_seed_row_is_exactly_the_contract() -> None:
    row = load_catalog(CATALOG_DIR).get("gpt-audio-1.5")
    assert row is not None
    assert (row.provider, row.endpoint_type) == ("azure-openai", "azure_openai_audio")
    assert (row.context_window, row.max_output_tokens) == (128_000, 16_384)
    assert str(row.pricing.text_input_per_1m_tokens) == "2.50"
    assert str(row.pricing.text_output_per_1m_tokens) == "10.00"
    assert str(row.pricing.minimum_hold_usd) == "0.010000"
    assert [spec.name for spec in row.fields] == [
        "model",
        "task",
        "input",
        "voice",
        "response_format",
        "speed",
        "instructions",
        "max_output_tokens",
    ]
    speed = row.field("speed")
    assert speed is not None and (speed.minimum, speed.maximum) == (0.25, 4)
    voice = row.field("voice")
    assert voice is not None and voice.accepted == (
        "alloy",
        "ash",
        "ballad",
        "coral",
        "echo",
        "sage",
        "shimmer",
        "verse",
        "marin",
        "cedar",
    )


def test_every_openai_voice_maps_to_gemini_and_local() -> None:
    voices = load_catalog(CATALOG_DIR).voices
    names = {
        "alloy",
        "ash",
        "ballad",
        "coral",
        "echo",
        "sage",
        "shimmer",
        "verse",
        "marin",
        "cedar",
        "fable",
        "onyx",
        "nova",
    }
    assert set(voices.openai) == names
    assert voices.native_voice("onyx", "gemini") == "Charon"
    assert voices.native_voice("alloy", "local") == "joe"
    assert voices.native_voice("alloy", "azure-openai") == "alloy"
    assert voices.native_voice("Kore", "gemini") == "Kore"


def test_a_new_data_file_is_a_new_model(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)
    row = yaml.safe_load((directory / "models" / "local-tts.yaml").read_text())
    row["id"] = "local-tts-slow"
    row["fields"][0]["accepted"] = ["local-tts-slow"]
    row["example"]["model"] = "local-tts-slow"
    (directory / "models" / "local-tts-slow.yaml").write_text(yaml.safe_dump(row))
    catalog = load_catalog(directory)
    assert catalog.get("local-tts-slow") is not None
    assert len(catalog) == len(load_catalog(CATALOG_DIR)) + 1


def test_file_name_must_match_the_id(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)
    (directory / "models" / "local-tts.yaml").rename(directory / "models" / "other.yaml")
    with pytest.raises(CatalogError, match="file name"):
        load_catalog(directory)


def test_a_field_table_must_agree_with_the_row(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)
    path = directory / "models" / "local-tts.yaml"
    row = yaml.safe_load(path.read_text())
    row["voices"] = ["alloy"]
    row["default_voice"] = "alloy"
    path.write_text(yaml.safe_dump(row))
    with pytest.raises(CatalogError, match=r"^models/local-tts\.yaml: .*field 'voice'"):
        load_catalog(directory)


def test_the_published_json_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == model_row_json_schema(), (
        "run: .venv/bin/python -c 'from voxgate.catalog.export import write_schema; write_schema()'"
    )
