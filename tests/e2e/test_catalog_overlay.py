"""The documented catalog overlay on a running gateway: the example in deploy/catalog-overlay
adds a model that lists, renders, answers to its alias, speaks and bills at its own price; a bad
overlay stops `voxgate serve` with one clear line naming the file, field and overlay."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from tests.audio_probe import probe
from tests.gateway_process import free_port, start_gateway, stop_gateway
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "catalog-overlay"
TEXT = "Once upon a time, a gateway learned to speak."


def test_the_example_overlay_adds_a_model(tmp_path: Path) -> None:
    env = {"VOXGATE_CATALOG_DIR": str(EXAMPLE), "VOXGATE_ENGINE_PRELOAD": "false"}
    process, gateway = start_gateway(tmp_path / "data", env)
    try:
        listed = httpx.get(f"{gateway.base_url}/api/v1/models", timeout=30).json()["data"]
        built_in = {row.id for row in load_catalog(Settings().catalog_dir)}
        assert {row["id"] for row in listed} == built_in | {"local-tts-narrator"}
        page = httpx.get(f"{gateway.base_url}/docs/models/local-tts-narrator", timeout=30)
        assert page.status_code == 200 and "Narrator (local Piper voice)" in page.text
        with gateway.client() as client:
            openai_ids = {model["id"] for model in client.get("/v1/models").json()["data"]}
            assert {"local-tts-narrator", "narrator"} <= openai_ids
            answer = client.post(
                "/api/v1/audio", json={"model": "narrator", "input": TEXT, "voice": "onyx"}
            )
        assert answer.status_code == 200, answer.text
        reply = answer.json()
        assert probe(base64.b64decode(reply["data"]["audio_base64"])).duration_seconds > 1
        price = yaml.safe_load((EXAMPLE / "models" / "local-tts-narrator.yaml").read_text())
        per_character = float(price["pricing"]["per_1m_characters"])  # micro-USD a character
        assert reply["usage"]["cost_micro_usd"] == round(len(TEXT) * per_character)
    finally:
        stop_gateway(process)


def test_a_bad_overlay_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    (overlay / "models").mkdir(parents=True)
    row = yaml.safe_load((EXAMPLE / "models" / "local-tts-narrator.yaml").read_text())
    row["pricing"]["per_1m_characters"] = "two dollars"
    (overlay / "models" / "local-tts-narrator.yaml").write_text(yaml.safe_dump(row))
    env = {name: value for name, value in os.environ.items() if not name.startswith("VOXGATE_")}
    env |= {"VOXGATE_DATA_DIR": str(tmp_path / "data"), "VOXGATE_CATALOG_DIR": str(overlay)}
    done = subprocess.run(
        [sys.executable, "-m", "voxgate", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        "voxgate: the catalog is invalid: models/local-tts-narrator.yaml: "
        "field 'pricing.per_1m_characters': "
    ), done.stderr
    assert done.stderr.rstrip().endswith(f"(catalog overlay {overlay})")
    assert "Traceback" not in done.stderr and "serving on" not in done.stdout
