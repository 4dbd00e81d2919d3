"""A realtime row's last hop (`realtime_last_hop`, mid-session failover) is checked at load: it
names a cascade row that serves realtime, from a relayed realtime row."""

from pathlib import Path

import pytest
import yaml

from tests.catalog.test_loader import copy_catalog
from voxgate.catalog.loader import CatalogError, load_catalog


def with_last_hop(tmp_path: Path, model: str, last_hop: str) -> Path:
    directory = copy_catalog(tmp_path)
    path = directory / "models" / f"{model}.yaml"
    row = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(row | {"realtime_last_hop": last_hop}))
    return directory


def test_a_realtime_row_may_name_the_local_cascade_as_its_last_hop(tmp_path: Path) -> None:
    catalog = load_catalog(with_last_hop(tmp_path, "gpt-audio-1.5", "local-realtime"))
    row = catalog.get("gpt-realtime")
    assert row is not None and row.realtime_last_hop == "local-realtime"


@pytest.mark.parametrize(
    ("model", "last_hop"),
    [
        ("gpt-audio-1.5", "local-tts"),  # not a cascade
        ("gpt-audio-1.5", "no-such-model"),
        ("local-tts", "local-realtime"),  # not a realtime row
        ("local-realtime", "local-realtime"),  # served here already
    ],
)
def test_a_last_hop_that_cannot_take_the_session_is_refused_at_load(
    tmp_path: Path, model: str, last_hop: str
) -> None:
    directory = with_last_hop(tmp_path, model, last_hop)
    with pytest.raises(CatalogError, match=rf"models/{model}\.yaml: field 'realtime_last_hop'"):
        load_catalog(directory)
