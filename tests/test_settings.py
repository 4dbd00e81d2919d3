import os
from pathlib import Path

import pytest

from voxgate.settings import Settings


def test_one_worker_unless_redis_shares_the_limits() -> None:
    assert Settings(redis_url=None).server_workers == 1
    assert Settings(redis_url="redis://127.0.0.1:6379/0").server_workers == (os.cpu_count() or 1)
    assert Settings(redis_url=None, workers=3).server_workers == 3


def test_the_data_dir_does_not_depend_on_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VOXGATE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert Settings().data_dir == tmp_path / "xdg" / "voxgate"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Settings().data_dir == tmp_path / "home" / ".local" / "share" / "voxgate"
    assert Settings().data_dir.is_absolute()
