"""Reads the catalog's data files into validated, immutable rows."""

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

import yaml

from voxgate.catalog.schema import ModelRow, VoiceTable


class CatalogError(ValueError):
    """A data file does not match the catalog schema."""


class Catalog:
    def __init__(self, rows: Mapping[str, ModelRow], voices: VoiceTable) -> None:
        self._rows = MappingProxyType(dict(rows))
        self.voices = voices

    def get(self, model_id: str) -> ModelRow | None:
        return self._rows.get(model_id)

    def __iter__(self) -> Iterator[ModelRow]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)


def load_catalog(directory: Path) -> Catalog:
    rows: dict[str, ModelRow] = {}
    for path in sorted((directory / "models").glob("*.yaml")):
        row = ModelRow.model_validate(_read_yaml(path))
        if row.id in rows:
            raise CatalogError(f"{path.name}: model id {row.id!r} is defined twice")
        if path.stem != row.id:
            raise CatalogError(f"{path.name}: file name must be the model id {row.id!r}")
        rows[row.id] = row
    voices = VoiceTable.model_validate(_read_yaml(directory / "voices.yaml"))
    for row in rows.values():
        legs = (row.cascade.transcription, row.cascade.speech) if row.cascade else ()
        for leg in legs:
            if leg not in rows:
                raise CatalogError(f"{row.id}: its cascade names {leg!r}, not in the catalog")
    return Catalog(rows, voices)


def _read_yaml(path: Path) -> object:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path.name}: {exc}") from exc
