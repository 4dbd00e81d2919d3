"""A catalog overlay (VOXGATE_CATALOG_DIR) over the built-in catalog: a new id adds a model, a
built-in id is replaced whole, and every mistake is named with the file, field and overlay."""

from pathlib import Path

import pytest
import yaml

from voxgate.catalog.loader import CatalogError, load_catalog
from voxgate.settings import Settings

BUILT_IN = Settings().catalog_dir
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "catalog-overlay"


def built_in_row(model_id: str) -> dict[str, object]:
    row: dict[str, object] = yaml.safe_load((BUILT_IN / "models" / f"{model_id}.yaml").read_text())
    return row


def overlay_with(directory: Path, row: dict[str, object]) -> Path:
    (directory / "models").mkdir(parents=True, exist_ok=True)
    (directory / "models" / f"{row['id']}.yaml").write_text(yaml.safe_dump(row))
    return directory


def test_the_example_adds_a_model_and_its_alias_to_the_built_in_ones() -> None:
    catalog = load_catalog(EXAMPLE)
    assert len(catalog) == len(load_catalog(BUILT_IN)) + 1
    added = catalog.get("narrator")
    assert added is not None and added.id == "local-tts-narrator"
    assert str(added.pricing.per_1m_characters) == "2.00"


def test_a_built_in_id_is_replaced_whole(tmp_path: Path) -> None:
    row = built_in_row("local-tts")
    row["pricing"] = {"minimum_hold_usd": "0.000100", "per_1m_characters": "3.00"}
    catalog = load_catalog(overlay_with(tmp_path, row))
    replaced = catalog.get("local-tts")
    assert replaced is not None and str(replaced.pricing.per_1m_characters) == "3.00"
    assert len(catalog) == len(load_catalog(BUILT_IN))


def test_a_bad_row_names_its_file_field_and_overlay(tmp_path: Path) -> None:
    row = built_in_row("local-tts") | {"id": "local-tts-broken", "routes": []}
    with pytest.raises(CatalogError) as raised:
        load_catalog(overlay_with(tmp_path, row))
    message = str(raised.value)
    assert message.startswith("models/local-tts-broken.yaml: field ")
    assert message.endswith(f"(catalog overlay {tmp_path})")


def test_an_overlay_that_breaks_a_cross_file_rule_is_refused(tmp_path: Path) -> None:
    # An alias that a built-in model already answers to.
    row = built_in_row("local-tts") | {
        "id": "local-tts-twin",
        "aliases": [{"id": "gpt-4o-transcribe", "reason": "taken"}],
    }
    row["fields"][0]["accepted"] = ["local-tts-twin", "gpt-4o-transcribe"]  # type: ignore[index]
    row["example"]["model"] = "local-tts-twin"  # type: ignore[index]
    with pytest.raises(CatalogError, match=r"gpt-4o-transcribe.*\(catalog overlay "):
        load_catalog(overlay_with(tmp_path, row))


def test_a_row_outside_models_is_named_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "narrator.yaml").write_text("id: narrator\n")
    with pytest.raises(CatalogError, match=r"^narrator\.yaml: not read; model rows go in models/"):
        load_catalog(tmp_path)


def test_a_missing_overlay_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not a directory"):
        load_catalog(tmp_path / "absent")
