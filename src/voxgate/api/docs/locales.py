"""The docs pages' texts: interface strings and catalog translations per language, checked at
start-up so that a bad file stops the gateway with its name and key, not a TypeError later."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from voxgate.catalog.loader import Catalog
from voxgate.yaml_text import load_yaml

DOCS_DIR = Path(__file__).parent
LOCALES_DIR = DOCS_DIR / "locales"
CHAT_PARAMETERS_FILE = DOCS_DIR / "chat_parameters.yaml"
DEFAULT_LANGUAGE = "en"
# Texts mark code with backticks, as Markdown does; split on this, code is every odd part.
CODE_SPAN = re.compile(r"`([^`]+)`")


class LocaleError(ValueError):
    """A language file is malformed; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class ChatParameter(_Strict):
    name: str
    type: str
    description: str


class ModelTexts(_Strict):
    """One model's texts in a language; what is missing stays as the catalog says it."""

    description: str | None = None
    fields: dict[str, str] = {}
    aliases: dict[str, str] = {}


class CatalogTexts(_Strict):
    models: dict[str, ModelTexts] = {}
    chat_parameters: dict[str, str] = {}


@dataclass(frozen=True)
class Language:
    code: str
    messages: Mapping[str, str]
    catalog: CatalogTexts


def load_languages(
    catalog: Catalog | None = None, directory: Path = LOCALES_DIR
) -> dict[str, Language]:
    messages = {path.stem: _messages(path) for path in sorted(directory.glob("*.yaml"))}
    english = messages[DEFAULT_LANGUAGE]
    for code, strings in messages.items():
        missing = sorted(set(english) - set(strings))
        extra = sorted(set(strings) - set(english))
        if missing or extra:
            raise LocaleError(
                f"locales/{code}.yaml: keys missing {missing}, keys not in en.yaml {extra}"
            )
    parameters = load_chat_parameters()
    return {
        code: Language(code, strings, _catalog_texts(directory, code, catalog, parameters))
        for code, strings in messages.items()
    }


def load_chat_parameters(path: Path = CHAT_PARAMETERS_FILE) -> tuple[ChatParameter, ...]:
    loaded = load_yaml(path.read_text(encoding="utf-8"))
    try:
        return tuple(ChatParameter.model_validate(item) for item in loaded)
    except ValidationError as exc:
        raise LocaleError(f"{path.name}: {exc}") from exc


def _messages(path: Path) -> dict[str, str]:
    loaded = _read(path, f"locales/{path.name}")
    if not isinstance(loaded, dict):
        raise LocaleError(f"locales/{path.name}: must map keys to strings")
    for key, value in loaded.items():
        # YAML 1.1 reads an unquoted yes, no, on or off as a boolean, as a key or a value.
        if not isinstance(key, str):
            raise LocaleError(
                f"locales/{path.name}: key {key!r} is a {type(key).__name__}, not a string; "
                "quote it"
            )
        if not isinstance(value, str):
            raise LocaleError(
                f"locales/{path.name}: key '{key}': the value must be a string, not "
                f"{type(value).__name__} {value!r}; quote it"
            )
    return loaded


def _catalog_texts(
    directory: Path,
    code: str,
    catalog: Catalog | None,
    parameters: tuple[ChatParameter, ...],
) -> CatalogTexts:
    path = directory / "catalog" / f"{code}.yaml"
    name = f"locales/catalog/{code}.yaml"
    if not path.exists():
        return CatalogTexts()
    try:
        texts = CatalogTexts.model_validate(_read(path, name) or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"key '{'.'.join(map(str, error['loc']))}': {error['msg']}" for error in exc.errors()
        )
        raise LocaleError(f"{name}: {problems}") from exc
    unknown = set(texts.chat_parameters) - {parameter.name for parameter in parameters}
    if unknown:
        raise LocaleError(f"{name}: key 'chat_parameters': not parameters {sorted(unknown)}")
    if catalog is not None:
        _check_against_catalog(name, texts, catalog)
    return texts


def _check_against_catalog(name: str, texts: CatalogTexts, catalog: Catalog) -> None:
    for model_id, model in texts.models.items():
        row = catalog.get(model_id)
        if row is None or row.id != model_id:
            raise LocaleError(f"{name}: key 'models.{model_id}': no such model in the catalog")
        for field in model.fields:
            if row.field(field) is None:
                raise LocaleError(f"{name}: key 'models.{model_id}.fields.{field}': no such field")
        for alias in model.aliases:
            if alias not in row.alias_ids:
                raise LocaleError(f"{name}: key 'models.{model_id}.aliases.{alias}': no such alias")


def _read(path: Path, name: str) -> object:
    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LocaleError(f"{name}: {exc}") from exc
