"""Reads the catalog's data files into validated, immutable rows; a bad file stops start-up.

The built-in catalog is this package's `models/*.yaml` and `voices.yaml`. An operator's overlay
(VOXGATE_CATALOG_DIR) has the same layout: a row whose id is built in replaces that row whole, a
new id adds a model, a `voices.yaml` replaces the voice table; the result is checked as one."""

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from voxgate.catalog.checks import CatalogError, check_catalog
from voxgate.catalog.schema import ModelRow, VoiceTable
from voxgate.yaml_text import load_yaml

# The embedded engine declares its voices beside its model files; the catalog checks its
# voice mappings against that list rather than keeping a second copy of it.
LOCAL_ENGINE_MODELS = Path(__file__).parents[1] / "providers" / "local" / "models.yaml"
BUILT_IN = Path(__file__).parent
VOICES_FILE = "voices.yaml"

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
    """The built-in catalog, with `directory` over it unless it is the built-in one. An error
    names the file and field, and the overlay when there is one."""
    rows = _rows(BUILT_IN)
    voices = _validated(VoiceTable, BUILT_IN / VOICES_FILE)
    local_voices = _local_voices(local_engine_models)
    if directory.resolve() == BUILT_IN.resolve():
        check_catalog(rows, voices, local_voices)
        return Catalog(rows, voices)
    try:
        if not directory.is_dir():
            raise CatalogError("not a directory")
        _refuse_stray_files(directory)
        rows |= _rows(directory)
        if (directory / VOICES_FILE).is_file():
            voices = _validated(VoiceTable, directory / VOICES_FILE)
        check_catalog(rows, voices, local_voices)
    except CatalogError as exc:
        raise CatalogError(f"{exc} (catalog overlay {directory})") from exc
    return Catalog(rows, voices)


def _rows(directory: Path) -> dict[str, ModelRow]:
    rows: dict[str, ModelRow] = {}
    for path in sorted((directory / "models").glob("*.yaml")):
        row = _validated(ModelRow, path)
        if path.stem != row.id:
            raise CatalogError(f"{_name(path)}: field 'id': the file name must be the id")
        rows[row.id] = row
    return rows


def _refuse_stray_files(directory: Path) -> None:
    """A row beside models/ rather than in it would not be read: named, not skipped in silence
    (other files, such as a copy of schema.json, are no data)."""
    beside = [path for path in directory.iterdir() if path.suffix in {".yaml", ".yml"}]
    misnamed = list((directory / "models").glob("*.yml"))
    stray = sorted(_name(path) for path in [*beside, *misnamed] if path != directory / VOICES_FILE)
    if stray:
        raise CatalogError(
            f"{', '.join(stray)}: not read; model rows go in models/<id>.yaml, the voice table "
            f"in {VOICES_FILE}"
        )


def _name(path: Path) -> str:
    """How an error names a file: from the top of its catalog directory."""
    return f"models/{path.name}" if path.parent.name == "models" else path.name


def _validated(schema: type[Schema], path: Path) -> Schema:
    name = _name(path)
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
            return load_yaml(handle)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{name}: {exc}") from exc
