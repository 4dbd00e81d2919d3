"""Reads the catalog's data files into validated, immutable rows; a bad file stops start-up."""

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from voxgate.catalog.checks import CatalogError, check_catalog
from voxgate.catalog.schema import ModelRow, VoiceTable

# The embedded engine declares its voices beside its model files; the catalog checks its
# voice mappings against that list rather than keeping a second copy of it.
LOCAL_ENGINE_MODELS = Path(__file__).parents[1] / "providers" / "local" / "models.yaml"

__all__ = ["Catalog", "CatalogError", "load_catalog"]

Schema = TypeVar("Schema", bound=BaseModel)


class Catalog:
    def __init__(self, rows: Mapping[str, ModelRow], voices: VoiceTable) -> None:
        self._rows = MappingProxyType(dict(rows))
        self._aliases = MappingProxyType(
            {alias: row for row in rows.values() for alias in row.alias_ids}
        )
        self.voices = voices

    def get(self, model_id: str) -> ModelRow | None:
        """The row of a model id or of one of its aliases."""
        return self._rows.get(model_id) or self._aliases.get(model_id)

    def aliases(self) -> Mapping[str, ModelRow]:
        return self._aliases

    def __iter__(self) -> Iterator[ModelRow]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)


def load_catalog(directory: Path, local_engine_models: Path = LOCAL_ENGINE_MODELS) -> Catalog:
    rows: dict[str, ModelRow] = {}
    for path in sorted((directory / "models").glob("*.yaml")):
        row = _validated(ModelRow, path)
        if path.stem != row.id:
            raise CatalogError(f"models/{path.name}: field 'id': the file name must be the id")
        rows[row.id] = row
    voices = _validated(VoiceTable, directory / "voices.yaml")
    check_catalog(rows, voices, _local_voices(local_engine_models))
    return Catalog(rows, voices)


def _validated(schema: type[Schema], path: Path) -> Schema:
    name = f"{path.parent.name}/{path.name}" if path.parent.name == "models" else path.name
    try:
        return schema.model_validate(_read_yaml(path, name))
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(map(str, error['loc'])) or '(row)'}': {error['msg']}"
            for error in exc.errors()
        )
        raise CatalogError(f"{name}: {problems}") from exc


def _local_voices(path: Path) -> tuple[str, ...]:
    loaded = _read_yaml(path, path.name)
    voices = loaded.get("speech", {}).get("voices", {}) if isinstance(loaded, dict) else {}
    return tuple(voices)


def _read_yaml(path: Path, name: str) -> object:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{name}: {exc}") from exc
