"""The README's main job: a fresh gateway prints a key and a curl line that returns audio."""

import base64
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.audio_probe import probe
from tests.e2e.conftest import RunningGateway, curl_argv, stop_gateway
from tests.gateway_process import free_port, whole_lines


def test_printed_curl_line_returns_decodable_audio(gateway: RunningGateway) -> None:
    assert "workspace 'default' created with $5.000000 of credit" in gateway.output.read_text()
    done = subprocess.run(
        curl_argv(gateway.curl_line), capture_output=True, check=True, timeout=120
    )
    reply = json.loads(done.stdout)
    assert reply["object"] == "audio.speech"
    assert reply["data"]["content_type"] == "audio/mpeg"
    audio = probe(base64.b64decode(reply["data"]["audio_base64"]))
    assert audio.codec == "mp3float"  # FFmpeg's MP3 decoder
    assert audio.duration_seconds > 0.5
    assert audio.peak > 0.05, "the audio is silent"


def test_health_and_readiness_carry_request_ids(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        for path in ("/healthz", "/readyz"):
            response = client.get(path)
            assert response.status_code == 200
            assert response.headers["x-request-id"].startswith("req_")
        assert client.get("/readyz").json()["database"] is True


def start_in(
    data_dir: Path | None, log: Path, cwd: Path, **env_overrides: str
) -> subprocess.Popen[bytes]:
    """`voxgate serve` with its output in `log`, outside the data dir, run from `cwd` (with
    no data dir given, the default one)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("VOXGATE_")}
    env |= {"VOXGATE_ENGINE_PRELOAD": "false", **env_overrides}
    if data_dir is not None:
        env["VOXGATE_DATA_DIR"] = str(data_dir)
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "voxgate", "serve", "--port", str(free_port())],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )


def serve_once(data_dir: Path | None, log: Path, cwd: Path, **env_overrides: str) -> str:
    """Start, wait for the banner's last line, stop; the output."""
    process = start_in(data_dir, log, cwd, **env_overrides)
    try:
        deadline = time.monotonic() + 60
        while not any("serving on" in line for line in whole_lines(log)):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        stop_gateway(process)
    return log.read_text()


def test_the_key_is_shown_once_and_kept_only_hashed(tmp_path: Path) -> None:
    data_dir, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    first = serve_once(data_dir, logs / "first.log", tmp_path)
    key = re.search(r"API key: (vg_live_\S+)", first)
    assert key, first
    secret = key.group(1)
    second = serve_once(data_dir, logs / "second.log", tmp_path)
    assert "vg_live_" not in second
    assert "voxgate keys create default" in second
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"{path} holds the key"
    assert not (data_dir / "dev-key").exists()
    assert stat.S_IMODE((data_dir / "voxgate.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "key-pepper").stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_the_data_dir_does_not_follow_the_working_directory(tmp_path: Path) -> None:
    """The default data dir is under $XDG_DATA_HOME: `voxgate serve` run in one directory and
    `voxgate balance default` run in another share one database."""
    home = tmp_path / "xdg"
    elsewhere, other = tmp_path / "one", tmp_path / "two"
    elsewhere.mkdir()
    other.mkdir()
    served = serve_once(None, tmp_path / "serve.log", elsewhere, XDG_DATA_HOME=str(home))
    assert "workspace 'default' created" in served
    env = {name: value for name, value in os.environ.items() if not name.startswith("VOXGATE_")}
    env |= {"XDG_DATA_HOME": str(home)}
    found = subprocess.run(
        [sys.executable, "-m", "voxgate", "balance", "default"],
        cwd=other,
        env=env,
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0, found.stderr
    assert "default  balance $5.000000" in found.stdout
    assert (home / "voxgate" / "voxgate.db").exists()
    assert not list(elsewhere.iterdir()) and not list(other.iterdir())
