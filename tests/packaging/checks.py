"""What an operator checks first on a gateway installed from a package, however installed: a
reference page in both languages, and speech that decodes."""

import base64
import html

import httpx
import yaml

from tests.audio_probe import probe
from tests.packaging.build import ROOT

REFERENCE_MODEL = "gpt-audio-1.5"
ARABIC_STRINGS = ROOT / "src" / "voxgate" / "api" / "docs" / "locales" / "catalog" / "ar.yaml"


def assert_reference_page_in_both_languages(base_url: str) -> None:
    english = httpx.get(f"{base_url}/docs/models/{REFERENCE_MODEL}", timeout=30)
    assert english.status_code == 200, english.text
    assert '<html lang="en"' in english.text
    arabic = httpx.get(f"{base_url}/ar/docs/models/{REFERENCE_MODEL}", timeout=30)
    assert arabic.status_code == 200, arabic.text
    assert '<html lang="ar" dir="rtl"' in arabic.text
    # The catalog's Arabic strings, a file of their own that a package once left out.
    strings = yaml.safe_load(ARABIC_STRINGS.read_text(encoding="utf-8"))
    assert strings["models"][REFERENCE_MODEL]["description"] in html.unescape(arabic.text)


def assert_speaks(base_url: str, key: str) -> None:
    body = {"model": "local-tts", "input": "Installed from a package.", "voice": "alloy"}
    headers = {"Authorization": f"Bearer {key}"}
    answer = httpx.post(f"{base_url}/api/v1/audio", json=body, headers=headers, timeout=120)
    assert answer.status_code == 200, answer.text
    audio = probe(base64.b64decode(answer.json()["data"]["audio_base64"]))
    assert audio.duration_seconds > 0.5 and audio.peak > 0.05, audio
