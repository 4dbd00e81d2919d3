"""A catalog that is wrong stops start-up, with a message naming the file and the field."""

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.catalog.test_loader import CATALOG_DIR, copy_catalog
from voxgate.catalog.loader import LOCAL_ENGINE_MODELS, CatalogError, load_catalog

Row = dict[str, Any]


def edit_row(directory: Path, model_id: str, change: Callable[[Row], None]) -> None:
    path = directory / "models" / f"{model_id}.yaml"
    row = yaml.safe_load(path.read_text())
    change(row)
    path.write_text(yaml.safe_dump(row, allow_unicode=True))


def field(row: Row, name: str) -> Row:
    spec: Row = next(spec for spec in row["fields"] if spec["name"] == name)
    return spec


def refused(directory: Path, pattern: str, engine: Path = LOCAL_ENGINE_MODELS) -> None:
    with pytest.raises(CatalogError, match=pattern):
        load_catalog(directory, engine)


def test_a_row_copied_with_the_old_id_in_its_model_values_is_refused(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)
    copy = yaml.safe_load((directory / "models" / "local-tts.yaml").read_text())
    copy["id"] = copy["example"]["model"] = "local-tts-copy"
    (directory / "models" / "local-tts-copy.yaml").write_text(yaml.safe_dump(copy))
    refused(directory, r"^models/local-tts-copy\.yaml: field '\(row\)'.*'model'.*local-tts-copy")


def test_an_alias_missing_from_the_model_values_is_refused(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)
    edit_row(
        directory, "local-tts", lambda row: row.update(aliases=[{"id": "piper", "reason": "x"}])
    )
    refused(directory, r"^models/local-tts\.yaml: .*'model'.*piper")


def test_an_alias_never_shadows_a_model_id(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)

    def alias_whisper(row: Row) -> None:
        row["aliases"] = [{"id": "whisper-1", "reason": "shadows a row"}]
        field(row, "model")["accepted"] = ["local-tts", "whisper-1"]

    edit_row(directory, "local-tts", alias_whisper)
    refused(directory, r"^models/local-tts\.yaml: field 'aliases': alias 'whisper-1' would shadow")


def test_an_alias_names_one_model(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)

    def alias_tts_1(row: Row) -> None:
        row["aliases"] = [{"id": "tts-1", "reason": "also claims it"}]
        field(row, "model")["accepted"] = ["local-tts", "tts-1"]

    edit_row(directory, "local-tts", alias_tts_1)
    refused(directory, r"field 'aliases': alias 'tts-1' is already an alias of")


def test_a_voice_mapped_to_a_local_voice_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)
    voices = directory / "voices.yaml"
    voices.write_text(voices.read_text().replace("local: joe}", "local: amy}", 1))
    refused(
        directory, r"^voices\.yaml: field 'openai\.alloy\.local': 'amy' is not a voice of local"
    )


def test_a_voice_mapped_to_an_unknown_gemini_voice_is_refused(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)
    voices = directory / "voices.yaml"
    voices.write_text(voices.read_text().replace("gemini: Zephyr,", "gemini: Zephir,", 1))
    refused(directory, r"^voices\.yaml: field 'openai\.alloy\.gemini': 'Zephir'")


def test_the_local_voices_come_from_the_engine_models_file(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path / "catalog")
    engine = yaml.safe_load(LOCAL_ENGINE_MODELS.read_text())
    engine["speech"]["voices"] = {"amy": engine["speech"]["voices"]["joe"]}
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump(engine))
    refused(directory, r"'joe' is not a voice of local \(its voices: amy\)", models)


def test_a_row_voice_its_provider_does_not_have_is_refused(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)

    def add_voice(row: Row) -> None:
        row["voices"].append("Kore")
        field(row, "voice")["accepted"].append("Kore")

    edit_row(directory, "local-tts", add_voice)
    refused(directory, r"^models/local-tts\.yaml: field 'voices': 'Kore' is neither")


def test_a_cascade_is_checked_against_the_voices_of_its_speech_leg(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)

    def add_voice(row: Row) -> None:
        row["voices"].append("Kore")
        field(row, "voice")["accepted"].append("Kore")

    edit_row(directory, "local-realtime", add_voice)
    refused(directory, r"^models/local-realtime\.yaml: field 'voices': 'Kore'")


def test_a_cascade_leg_must_exist(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)
    edit_row(directory, "local-realtime", lambda row: row["cascade"].update(speech="nope"))
    refused(directory, r"^models/local-realtime\.yaml: field 'cascade\.speech': 'nope'")


def test_an_example_with_a_field_the_row_lacks_is_refused(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)
    edit_row(directory, "local-tts", lambda row: row["example"].update(temperature=0.2))
    refused(directory, r"^models/local-tts\.yaml: field 'example': .*temperature")


def test_a_bad_id_and_a_wrong_type_name_the_field(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)
    edit_row(directory, "local-tts", lambda row: row.update(context_window="big"))
    refused(directory, r"^models/local-tts\.yaml: field 'context_window'")
    directory = copy_catalog(tmp_path / "second")
    edit_row(directory, "local-tts", lambda row: row.update(id="Local TTS"))
    refused(directory, r"^models/local-tts\.yaml: field 'id'")


def test_default_output_tokens_stays_within_the_maximum(tmp_path: Path) -> None:
    directory = copy_catalog(tmp_path)
    edit_row(directory, "gpt-audio", lambda row: row.update(default_output_tokens=20_000))
    refused(directory, r"^models/gpt-audio\.yaml: .*default_output_tokens")


def test_aliases_resolve_to_their_rows() -> None:
    catalog = load_catalog(CATALOG_DIR)
    expected = {
        "tts-1": "gpt-4o-mini-tts",
        "tts-1-hd": "gpt-4o-mini-tts",
        "gpt-4o-transcribe": "whisper-1",
        "gpt-4o-mini-transcribe": "whisper-1",
        "gpt-transcribe": "whisper-1",
        "gpt-4o-audio-preview": "gpt-audio",
        "gpt-4o-mini-audio-preview": "gpt-audio",
        "gpt-realtime": "gpt-audio-1.5",
        "gpt-4o-realtime-preview": "gpt-audio-1.5",
    }
    for alias, model_id in expected.items():
        row = catalog.get(alias)
        assert row is not None and row.id == model_id, alias
        assert "realtime" in row.tasks if "realtime" in alias else True
    assert {row.id for row in catalog}.isdisjoint(catalog.aliases())


def test_the_reference_example_can_hold_under_five_cents() -> None:
    # The hold of an audio chat is bounded by its output cap at the row's dearest output price;
    # the reference's example sends no max_completion_tokens, so the row's default is that cap.
    row = load_catalog(CATALOG_DIR).get("gpt-audio-1.5")
    assert row is not None and row.default_output_tokens is not None
    prices = row.pricing
    dearest = max(
        price
        for price in (prices.text_output_per_1m_tokens, prices.audio_output_per_1m_tokens)
        if price is not None
    )
    output_bound = row.default_output_tokens * dearest / 1_000_000
    assert output_bound + prices.minimum_hold_usd <= Decimal("0.05")


def test_the_reference_model_fails_over_to_a_second_key_then_openai() -> None:
    row = load_catalog(CATALOG_DIR).get("gpt-audio-1.5")
    assert row is not None
    azure, openai = row.routes
    assert azure.provider == "azure-openai" and [c.api_key_env for c in azure.credentials] == [
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_API_KEY_SECONDARY",
    ]
    assert (openai.provider, openai.upstream_model) == ("openai", "gpt-audio")
