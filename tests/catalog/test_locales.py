"""The docs' language files are checked at start-up: a bad one names its file and key."""

import shutil
from pathlib import Path

import pytest

from voxgate.api.docs.locales import LOCALES_DIR, LocaleError, load_languages
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)


def copy_locales(target: Path) -> Path:
    shutil.copytree(LOCALES_DIR, target / "locales")
    return target / "locales"


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_languages_load_against_the_catalog() -> None:
    languages = load_languages(CATALOG)
    assert set(languages) == {"en", "ar"}
    assert languages["ar"].messages["field_type"] == "النوع"
    assert languages["ar"].catalog.models["gpt-audio-1.5"].description


def test_an_unquoted_yes_key_is_a_clear_error(tmp_path: Path) -> None:
    locales = copy_locales(tmp_path)
    replace_in(locales / "ar.yaml", '"yes": نعم', "yes: نعم")
    with pytest.raises(LocaleError, match=r"^locales/ar\.yaml: key True is a bool.*quote it"):
        load_languages(CATALOG, locales)


def test_a_value_that_is_not_a_string_is_a_clear_error(tmp_path: Path) -> None:
    locales = copy_locales(tmp_path)
    replace_in(locales / "ar.yaml", "copy: نسخ", "copy: off")
    with pytest.raises(LocaleError, match=r"^locales/ar\.yaml: key 'copy': .*bool False"):
        load_languages(CATALOG, locales)


def test_every_english_key_is_in_each_language(tmp_path: Path) -> None:
    locales = copy_locales(tmp_path)
    replace_in(locales / "ar.yaml", "back: كل النماذج\n", "")
    with pytest.raises(LocaleError, match=r"^locales/ar\.yaml: keys missing \['back'\]"):
        load_languages(CATALOG, locales)


def test_catalog_texts_name_models_and_fields_that_exist(tmp_path: Path) -> None:
    locales = copy_locales(tmp_path)
    replace_in(locales / "catalog" / "ar.yaml", "  gpt-audio:\n", "  gpt-audio-2:\n")
    with pytest.raises(LocaleError, match=r"catalog/ar\.yaml: key 'models\.gpt-audio-2'"):
        load_languages(CATALOG, locales)
    locales = copy_locales(tmp_path / "second")
    replace_in(locales / "catalog" / "ar.yaml", "      speed: سرعة الكلام.\n", "      pace: x\n")
    with pytest.raises(LocaleError, match=r"'models\.gpt-audio-1\.5\.fields\.pace'"):
        load_languages(CATALOG, locales)


def test_catalog_texts_are_strings(tmp_path: Path) -> None:
    locales = copy_locales(tmp_path)
    replace_in(locales / "catalog" / "ar.yaml", "  seed: ", "  seed: 42\n  top_k: ")
    with pytest.raises(LocaleError, match=r"catalog/ar\.yaml: key 'chat_parameters"):
        load_languages(CATALOG, locales)
