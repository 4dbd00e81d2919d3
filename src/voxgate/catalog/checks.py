"""Checks across catalog files: what one row's schema cannot see on its own."""

from collections.abc import Iterable, Mapping

from voxgate.catalog.schema import ModelRow, VoiceTable


class CatalogError(ValueError):
    """A data file does not match the catalog schema; the message names the file and field."""


def check_catalog(
    rows: Mapping[str, ModelRow], voices: VoiceTable, local_voices: Iterable[str]
) -> None:
    native = {provider: set(names) for provider, names in voices.native.items()}
    native["local"] = set(local_voices)
    _check_voice_table(voices, native)
    for row in rows.values():
        _check_ids(row, rows)
        _check_cascade(row, rows)
        _check_billed_as(row, rows)
        _check_last_hop(row, rows)
        _check_row_voices(row, rows, voices, native)
        _check_example(row)
    _check_aliases_unique(rows)


def _where(row: ModelRow, field: str) -> str:
    return f"models/{row.id}.yaml: field '{field}'"


def _check_ids(row: ModelRow, rows: Mapping[str, ModelRow]) -> None:
    # /docs/models/{id}.md serves a page as Markdown, so an id may not end the way it does.
    if row.id.endswith(".md"):
        raise CatalogError(f"{_where(row, 'id')}: an id may not end in '.md'")
    for alias in row.alias_ids:
        if alias in rows:
            raise CatalogError(
                f"{_where(row, 'aliases')}: alias {alias!r} would shadow the model of that id"
            )


def _check_billed_as(row: ModelRow, rows: Mapping[str, ModelRow]) -> None:
    for route in row.routes:
        if route.billed_as is not None and route.billed_as not in rows:
            raise CatalogError(
                f"{_where(row, 'routes')}: billed_as {route.billed_as!r} is not a catalog id"
            )


def _check_last_hop(row: ModelRow, rows: Mapping[str, ModelRow]) -> None:
    """A last hop is a cascade row that serves realtime, named by a relayed realtime row."""
    if row.realtime_last_hop is None:
        return
    last = rows.get(row.realtime_last_hop)
    where = _where(row, "realtime_last_hop")
    if "realtime" not in row.tasks or row.cascade is not None:
        raise CatalogError(f"{where}: only a relayed realtime row has a last hop")
    if last is None or last.cascade is None or "realtime" not in last.tasks:
        raise CatalogError(
            f"{where}: {row.realtime_last_hop!r} is not a cascade row that serves realtime"
        )


def _check_aliases_unique(rows: Mapping[str, ModelRow]) -> None:
    owners: dict[str, str] = {}
    for row in rows.values():
        for alias in row.alias_ids:
            if alias in owners:
                raise CatalogError(
                    f"{_where(row, 'aliases')}: alias {alias!r} is already an alias of "
                    f"{owners[alias]!r}"
                )
            owners[alias] = row.id


def _check_cascade(row: ModelRow, rows: Mapping[str, ModelRow]) -> None:
    if row.cascade is None:
        return
    for leg, model_id in (
        ("transcription", row.cascade.transcription),
        ("speech", row.cascade.speech),
    ):
        if model_id not in rows:
            raise CatalogError(
                f"{_where(row, 'cascade.' + leg)}: {model_id!r} is not in the catalog"
            )


def _check_voice_table(voices: VoiceTable, native: Mapping[str, set[str]]) -> None:
    for name, mapping in voices.openai.items():
        for provider, column in voices.provider_columns.items():
            voice = getattr(mapping, column)
            if voice not in native.get(provider, set()):
                known = ", ".join(sorted(native.get(provider, set()))) or "none"
                raise CatalogError(
                    f"voices.yaml: field 'openai.{name}.{column}': {voice!r} is not a voice of "
                    f"{provider} (its voices: {known})"
                )


def _check_row_voices(
    row: ModelRow,
    rows: Mapping[str, ModelRow],
    voices: VoiceTable,
    native: Mapping[str, set[str]],
) -> None:
    # A cascade speaks through its speech leg; any other row through its own routes.
    speaker = rows[row.cascade.speech] if row.cascade is not None else row
    for route in speaker.routes:
        mapped = route.provider in voices.provider_columns
        own = native.get(route.provider, set()) if mapped else set()
        for voice in row.voices:
            if voice not in voices.openai and voice not in own:
                raise CatalogError(
                    f"{_where(row, 'voices')}: {voice!r} is neither an OpenAI voice in "
                    f"voices.yaml nor a voice of its route's provider {route.provider!r}"
                )


def _check_example(row: ModelRow) -> None:
    unknown = [name for name in row.example if row.field(name) is None]
    if unknown:
        raise CatalogError(f"{_where(row, 'example')}: fields not in the row: {unknown}")
    if row.example.get("model") != row.id:
        raise CatalogError(f"{_where(row, 'example.model')}: must be the row's id {row.id!r}")
