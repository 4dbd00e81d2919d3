"""The model reference pages: rendered from the catalog, in English and Arabic, code that runs."""

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import yaml

from tests.audio_probe import probe
from tests.gateway_process import RunningGateway, start_gateway, stop_gateway
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)
LOCALES = Path(Settings().catalog_dir).parent / "api" / "docs" / "locales"
ARABIC = yaml.safe_load((LOCALES / "ar.yaml").read_text(encoding="utf-8"))


class FieldTable(HTMLParser):
    """The rows of the request-fields table, as the page shows them."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.headings: list[str] = []
        self._cell: list[str] | None = None
        self._in_row = False
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr" and dict(attrs).get("data-field"):
            self._in_row = True
            self.rows.append([])
        elif tag == "td" and self._in_row:
            self._cell = []
        elif tag == "h2":
            self._in_h2 = True
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._in_row = False
        elif tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_h2:
            self.headings[-1] += data


def parse(page: str) -> FieldTable:
    table = FieldTable()
    table.feed(page)
    return table


@pytest.mark.parametrize("model_id", sorted(row.id for row in CATALOG))
@pytest.mark.parametrize("language", ["en", "ar"])
def test_every_model_page_shows_its_catalog_fields(
    gateway: RunningGateway, model_id: str, language: str
) -> None:
    prefix = "" if language == "en" else f"/{language}"
    response = httpx.get(f"{gateway.base_url}{prefix}/docs/models/{model_id}")
    assert response.status_code == 200
    row = CATALOG.get(model_id)
    assert row is not None
    shown = parse(response.text).rows
    assert [cells[0] for cells in shown] == [spec.name for spec in row.fields]
    for cells, spec in zip(shown, row.fields, strict=True):
        assert cells[1] == spec.type
        if spec.accepted:
            assert cells[3] == ", ".join(spec.accepted)
        assert html.unescape(cells[4]) == spec.description


def test_arabic_pages_are_right_to_left_with_translated_headings(gateway: RunningGateway) -> None:
    for url in ("/ar/docs/models/gpt-audio-1.5", "/docs/models/gpt-audio-1.5?lang=ar"):
        page = httpx.get(gateway.base_url + url).text
        assert '<html lang="ar" dir="rtl">' in page
        headings = parse(page).headings
        for key in ("summary", "pricing", "connect", "fields", "code", "checklist"):
            assert ARABIC[key] in headings
        assert all('dir="ltr"' in block for block in re.findall(r"<pre[^>]*>", page))
    assert httpx.get(f"{gateway.base_url}/xx/docs/models").status_code == 404


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


def test_a_model_added_to_the_data_appears_everywhere(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(
        Settings().catalog_dir, catalog, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    row = yaml.safe_load((catalog / "models" / "local-tts.yaml").read_text())
    row |= {"id": "local-tts-narrator", "name": "Narrator voice"}
    row["fields"][0]["accepted"] = ["local-tts-narrator"]
    row["example"]["model"] = "local-tts-narrator"
    (catalog / "models" / "local-tts-narrator.yaml").write_text(yaml.safe_dump(row))
    process, gateway = start_gateway(tmp_path / "data", {"VOXGATE_CATALOG_DIR": str(catalog)})
    try:
        assert (
            httpx.get(f"{gateway.base_url}/api/v1/models/local-tts-narrator").json()["name"]
            == "Narrator voice"
        )
        assert "local-tts-narrator" in httpx.get(f"{gateway.base_url}/docs/models").text
        page = httpx.get(f"{gateway.base_url}/docs/models/local-tts-narrator")
        assert page.status_code == 200 and "Narrator voice" in page.text
    finally:
        stop_gateway(process)
