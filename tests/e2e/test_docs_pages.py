"""The model reference pages' code samples, run against a real gateway (the pages themselves
are tested in process: tests/api/test_docs_pages.py)."""

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.audio_probe import probe
from tests.gateway_process import RunningGateway
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)


def samples(gateway: RunningGateway, model_id: str) -> dict[str, str]:
    page = httpx.get(f"{gateway.base_url}/docs/models/{model_id}").text
    found = re.findall(r'<code id="sample-(\w+)" class="sample"[^>]*>(.*?)</code>', page, re.S)
    return {
        name: html.unescape(code).replace("YOUR_VOXGATE_KEY", gateway.key) for name, code in found
    }


def run_sample(language: str, code: str, workdir: Path) -> str:
    tools = {
        "curl": "curl",
        "python": sys.executable,
        "javascript": "node",
        "php": "php",
        "go": "go",
    }
    if shutil.which(tools[language]) is None:
        pytest.skip(f"{tools[language]} is not installed (.ci/run installs it with apt-get)")
    files = {
        "javascript": "sample.mjs",
        "php": "sample.php",
        "go": "sample.go",
        "python": "sample.py",
    }
    if language == "curl":
        command = ["bash", "-c", code]
    else:
        path = workdir / files[language]
        path.write_text(code)
        command = {
            "python": [sys.executable, str(path)],
            "javascript": ["node", str(path)],
            "php": ["php", str(path)],
            "go": ["go", "run", str(path)],
        }[language]
    env = {
        **os.environ,
        "GOCACHE": str(workdir / "gocache"),
        "GOPATH": str(workdir / "gopath"),
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
    }
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=workdir, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("language", ["curl", "python", "javascript", "php", "go"])
def test_every_code_sample_runs_and_returns_audio(
    gateway: RunningGateway, language: str, tmp_path: Path
) -> None:
    code = samples(gateway, "local-tts")[language]
    reply = json.loads(run_sample(language, code, tmp_path))
    assert reply["object"] == "audio.speech"
    audio = probe(base64.b64decode(reply["data"]["audio_base64"]))
    assert audio.duration_seconds > 1 and audio.peak > 0.05


def test_csharp_sample_is_generated_from_the_same_payload(gateway: RunningGateway) -> None:
    # No .NET SDK is in Debian's packages, so the C# sample is checked, not run.
    code = samples(gateway, "local-tts")["csharp"]
    row = CATALOG.get("local-tts")
    assert row is not None
    body = re.search(r'@"(.*?)", Encoding', code, re.S)
    assert body is not None
    assert json.loads(body.group(1).replace('""', '"')) == row.example
    assert f'"{gateway.base_url}/api/v1/audio"' in code
