"""The command line an operator meets: version, help with defaults and variables, the schema
commands, and a busy port refused before anything is created or printed."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from voxgate import __version__


def voxgate(*arguments: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("VOXGATE_")}
    if data_dir is not None:
        env["VOXGATE_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "voxgate", *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_version() -> None:
    done = voxgate("--version")
    assert done.returncode == 0
    assert done.stdout.startswith(f"voxgate {__version__} (commit ")


def test_help_shows_defaults_and_variables() -> None:
    top = voxgate("--help").stdout
    assert "--data-dir" in top and "VOXGATE_DATA_DIR" in top and "~/.local/share/voxgate" in top
    assert "--log-level" in top and "VOXGATE_LOG_LEVEL" in top and "default: info" in top
    serve = voxgate("serve", "--help").stdout
    for variable in ("VOXGATE_HOST", "VOXGATE_PORT", "VOXGATE_WORKERS", "VOXGATE_ENGINE_PRELOAD"):
        assert variable in serve, variable
    assert "default: 127.0.0.1" in serve and "default:" in serve.split("--port", 1)[1]
    assert "<str>" not in serve + top and "<int>" not in serve + top
    for group in ("keys", "workspaces", "db"):
        listing = voxgate(group, "--help").stdout
        commands = listing.split("Commands:", 1)[1].strip().splitlines()
        assert all(len(line.split(None, 1)) == 2 for line in commands), listing


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    before = voxgate("db", "current", data_dir=tmp_path)
    assert before.returncode == 1 and "revision none" in before.stdout
    upgraded = voxgate("db", "upgrade", data_dir=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    head = upgraded.stdout.split("(head ", 1)[1].rstrip(")\n")
    assert f"database at revision {head} " in upgraded.stdout
    after = voxgate("db", "current", data_dir=tmp_path)
    assert after.returncode == 0 and f"revision {head} (head {head})" in after.stdout


def test_a_busy_port_is_refused_before_the_banner(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = voxgate("serve", "--port", str(port), "--no-preload", data_dir=tmp_path)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "API key" not in done.stdout + done.stderr
    assert not (tmp_path / "voxgate.db").exists()
