"""The data directory (SQLite, key pepper, model cache) is its owner's alone, 0700, whoever makes
it: `voxgate serve`, any other command, or the application started by another server."""

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from voxgate.app import create_app
from voxgate.settings import Settings

COMMANDS = [["db", "current"], ["db", "upgrade"], ["workspaces", "list"]]


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common 022, which alone would leave a new directory 0755."""
    earlier = os.umask(0o022)
    yield
    os.umask(earlier)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def voxgate(data_dir: Path, *arguments: str) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("VOXGATE_")}
    subprocess.run(
        [sys.executable, "-m", "voxgate", "--data-dir", str(data_dir), *arguments],
        env=env,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.parametrize("arguments", COMMANDS, ids=" ".join)
def test_a_command_makes_it_private(tmp_path: Path, arguments: list[str]) -> None:
    data_dir = tmp_path / "new" / "voxgate"
    voxgate(data_dir, *arguments)
    assert mode(data_dir) == 0o700


def test_one_an_older_version_left_open_is_closed(tmp_path: Path) -> None:
    data_dir = tmp_path / "voxgate"
    data_dir.mkdir(mode=0o755)
    voxgate(data_dir, "db", "current")
    assert mode(data_dir) == 0o700


def test_the_application_makes_it_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "served" / "voxgate"
    settings = Settings(data_dir=data_dir, engine_preload=False, key_pepper=None)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
    assert mode(data_dir) == 0o700
