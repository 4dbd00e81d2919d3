"""The model reference pages, rendered in process from the catalog, in English and Arabic.
(That their code samples run against a gateway is tests/e2e/test_docs_pages.py.)"""

import gc
import html
import json
import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from tests.database_fixtures import SqliteTemplate
from voxgate.catalog.checks import CatalogError
from voxgate.catalog.loader import load_catalog
from voxgate.catalog.schema import FieldSpec, ModelRow
from voxgate.gateway.inputs import MAX_AUDIO_BYTES
from voxgate.settings import Settings
from voxgate.testing import gateway_app

CATALOG = load_catalog(Settings().catalog_dir)
LOCALES = Path(Settings().catalog_dir).parent / "api" / "docs" / "locales"
ARABIC = yaml.safe_load((LOCALES / "ar.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, sqlite_migrated: SqliteTemplate
) -> Iterator[TestClient]:
    """One app for the module's pages, started with its lifespan; the pages are public."""
    data_dir = sqlite_migrated.copy_into(tmp_path_factory.mktemp("docs"))
    with TestClient(gateway_app(data_dir)) as started:
        yield started
    gc.unfreeze()  # what the lifespan froze at start


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
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")
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


LANGUAGES = {
    code: yaml.safe_load((LOCALES / f"{code}.yaml").read_text(encoding="utf-8"))
    for code in ("en", "ar")
}
CATALOG_TEXTS = {
    "en": {},
    "ar": yaml.safe_load((LOCALES / "catalog" / "ar.yaml").read_text(encoding="utf-8"))["models"],
}
# The reference page's outline (DESIGN.md), as our pages mark their sections, in order.
OUTLINE = ["header", "category", "card", "integration", "schema", "payload", "examples"]
CHAT_PARAMETERS = [
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "presence_penalty",
    "response_format",
    "seed",
    "stop",
    "structured_outputs",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
]


def bound(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


def expected_accepted(row: ModelRow, spec: FieldSpec, t: dict[str, str]) -> str:
    if spec.name == "response_format" and "realtime" in row.tasks:
        realtime = f"{t['for_realtime']}: pcm16, g711_ulaw, g711_alaw"
        others = [value for value in spec.accepted or () if not value.startswith("g711")]
        return f"{t['for_other_tasks']}: {', '.join(others)}\n{realtime}"
    if spec.accepted:
        return ", ".join(spec.accepted)
    if spec.minimum is not None and spec.maximum is not None:
        return f"{bound(spec.minimum)}–{bound(spec.maximum)}"
    if spec.name == "input" and "audio" in row.modalities.input:
        # Audio is limited by its decoded size and duration, not by the text limit.
        minutes = Settings().max_audio_seconds / 60
        megabytes = f"{MAX_AUDIO_BYTES // 2**20:g}"
        heard = t["audio_limit"].replace("{mb}", megabytes).replace("{minutes}", f"{minutes:g}")
        if "text" not in row.modalities.input:
            return heard
        text = t["text_limit"].replace("{n}", f"{spec.max_length:,}")
        return f"{text}{t['list_separator']}{heard}"
    if spec.max_length is not None:
        return t["up_to_characters"].replace("{n}", f"{spec.max_length:,}")
    if spec.minimum is not None:
        return t["at_least"].replace("{n}", bound(spec.minimum))
    if spec.maximum is not None:
        return t["at_most"].replace("{n}", bound(spec.maximum))
    return t["any_value"]


@pytest.mark.parametrize("model_id", sorted(row.id for row in CATALOG))
@pytest.mark.parametrize("language", ["en", "ar"])
def test_every_model_page_shows_its_catalog_fields(
    client: TestClient, model_id: str, language: str
) -> None:
    prefix = "" if language == "en" else f"/{language}"
    response = client.get(f"{prefix}/docs/models/{model_id}")
    assert response.status_code == 200
    row = CATALOG.get(model_id)
    assert row is not None
    t = LANGUAGES[language]
    translated = CATALOG_TEXTS[language].get(model_id, {}).get("fields", {})
    shown = parse(response.text).rows
    assert [cells[0] for cells in shown] == [spec.name for spec in row.fields]
    for cells, spec in zip(shown, row.fields, strict=True):
        assert cells[1] == spec.type
        assert cells[2] == (t["yes"] if spec.required else t["no"])
        assert html.unescape(cells[3]) == expected_accepted(row, spec, t)
        shown_description = translated.get(spec.name, spec.description).replace("`", "")
        assert html.unescape(cells[4]) == shown_description
    # The real limits are on the page: 32,000 characters of input, 4,096 of instructions.
    if model_id == "gpt-audio-1.5":
        accepted = {cells[0]: cells[3] for cells in shown}
        assert "32,000" in accepted["input"] and "4,096" in accepted["instructions"]
        assert f"{MAX_AUDIO_BYTES // 2**20}" in accepted["input"] and "30" in accepted["input"]


class Outline(HTMLParser):
    """The page's sections in document order, each with its eyebrow, heading and first text."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[dict[str, str]] = []
        self._capture: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("data-outline"):
            self.sections.append({"name": str(values["data-outline"]), "text": ""})
        elif self.sections and tag in ("h1", "h2") and "heading" not in self.sections[-1]:
            self._capture = "heading"
        elif self.sections and tag == "p" and values.get("class") == "eyebrow":
            self._capture = "eyebrow"
        elif self.sections and tag == "p" and "intro" not in self.sections[-1]:
            self._capture = "intro"
        if self._capture and self._capture not in self.sections[-1]:
            self.sections[-1][self._capture] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "p"):
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self.sections:
            self.sections[-1]["text"] += data
            if self._capture:
                self.sections[-1][self._capture] += data


def outline(page: str) -> dict[str, dict[str, str]]:
    parser = Outline()
    parser.feed(page)
    names = [section["name"] for section in parser.sections]
    reference = [name for name in names if name in (*OUTLINE, "checklist")]
    assert reference == [*OUTLINE, "checklist"], names
    return {
        section["name"]: {k: v.strip() for k, v in section.items()} for section in parser.sections
    }


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_reference_page_has_every_section_in_order(client: TestClient, language: str) -> None:
    t = LANGUAGES[language]
    page = client.get(f"/docs/models/gpt-audio-1.5?lang={language}").text
    sections = outline(page)
    header = sections["header"]
    assert header["heading"] == "GPT Audio 1.5"
    assert header["eyebrow"] == f"{t['developer_docs']} · {t['model_reference']}"
    assert sections["category"]["heading"] == t["category_title"]
    assert "/api/v1/audio" in sections["category"]["text"]
    card = sections["card"]
    assert card["heading"] == t["card_title"]
    for shown in (t["badge_audio"], "128,000", "16,384", "$2.500000", "$10.000000", "$0.010000"):
        assert shown in card["text"]
    assert f"$2.500000 {t['per_1m_tokens']}" in card["text"]
    assert sections["integration"]["heading"] == t["integration_title"].replace(
        "{model}", "GPT Audio 1.5"
    )
    for key in ("integration", "schema", "payload", "examples", "checklist"):
        assert sections[key]["eyebrow"] == t[f"{key}_eyebrow"]
    assert sections["integration"]["intro"] == t["integration_intro"]
    assert sections["schema"]["heading"] == t["schema_title"]
    assert sections["schema"]["intro"] == t["schema_intro"]
    assert sections["payload"]["heading"] == t["payload_title"]
    assert sections["payload"]["intro"] == t["payload_intro"]
    assert sections["examples"]["heading"] == t["examples_title"]
    assert sections["examples"]["intro"] == t["examples_intro"]
    assert sections["checklist"]["heading"] == t["checklist_title"]
    points = re.findall(r"<li>(.*?)</li>", page.split('data-outline="checklist"')[1])
    shown = [html.unescape(re.sub(r"<[^>]+>", "", point)) for point in points[:2]]
    assert shown == [t["checklist_auth"].replace("`", ""), t["checklist_gateway"]]
    integration = sections["integration"]["text"]
    for shown in ("azure-openai", "azure_openai_audio"):
        assert shown in integration
    # Azure's two keys fail over between them: the page says so, and names neither.
    assert t["route_keys"].replace("{n}", "2") in integration
    routes = re.findall(
        r"<li><bdi>(\S+)</bdi> · <code", page.split('id="routes"')[1].split("</ol>")[0]
    )
    assert routes == ["azure-openai", "openai"]
    for label in ("cURL", "JavaScript fetch", "Python requests", "PHP cURL", "C# HttpClient"):
        assert label in sections["examples"]["text"]
    assert "Go net/http" in sections["examples"]["text"]


def code_block(page: str, block_id: str) -> Any:
    found = re.search(rf'<code id="{block_id}">(.*?)</code>', page, re.S)
    assert found is not None
    return json.loads(html.unescape(found.group(1)))


def test_the_reference_payload_and_all_three_response_objects(client: TestClient) -> None:
    page = client.get("/docs/models/gpt-audio-1.5").text
    payload = code_block(page, "payload")
    assert {k: v for k, v in payload.items() if k != "input"} == {
        "model": "gpt-audio-1.5",
        "task": "audio_chat",
        "voice": "alloy",
        "response_format": "mp3",
        "speed": 1,
    }
    row = CATALOG.get("gpt-audio-1.5")
    assert row is not None and payload["input"] and payload == row.example
    shape = code_block(page, "response")
    assert shape["object"].startswith("audio.speech|audio.chat|realtime.session")
    assert shape["data"] == {"content_type": "audio/mpeg", "audio_base64": "<base64-audio>"}
    assert "estimated_audio_minutes" in shape["usage"]


def test_arabic_pages_are_right_to_left_with_the_references_strings(
    client: TestClient,
) -> None:
    for url in ("/ar/docs/models/gpt-audio-1.5", "/docs/models/gpt-audio-1.5?lang=ar"):
        page = client.get(url).text
        assert '<html lang="ar" dir="rtl">' in page
        for text in ("وثائق المطور", "صوتي", "الوصف", "النوع", "نسخ الصفحة بتنسيق Markdown"):
            assert text in page
        assert "يكتب" not in page and "تخفيض السعر المنسوخ" not in page
        assert CATALOG_TEXTS["ar"]["gpt-audio-1.5"]["description"] in html.unescape(page)
        assert all('dir="ltr"' in block for block in re.findall(r"<pre[^>]*>", page))
    listing = html.unescape(client.get("/ar/docs/models").text)
    assert ARABIC["task_transcription"] in listing
    assert CATALOG_TEXTS["ar"]["whisper-1"]["description"] in listing
    assert client.get("/xx/docs/models").status_code == 404


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ar", "ar"),
        ("ar-EG,ar;q=0.9,en;q=0.8", "ar"),
        ("fr, ar;q=0.5", "ar"),
        ("ar;q=0, en", "en"),
        ("de", "en"),
        ("", "en"),
    ],
)
def test_accept_language_picks_the_language_when_none_is_asked(
    client: TestClient, header: str, language: str
) -> None:
    response = client.get("/docs/models/gpt-audio-1.5", headers={"accept-language": header})
    assert f'<html lang="{language}"' in response.text
    assert "accept-language" in response.headers["vary"].lower()
    explicit = client.get("/docs/models/gpt-audio-1.5?lang=en", headers={"accept-language": "ar"})
    assert '<html lang="en"' in explicit.text


def test_the_model_list_finds_a_model_by_its_alias(client: TestClient) -> None:
    listing = client.get("/docs/models").text
    searchable = dict(re.findall(r'<tr data-id="([\w.-]+)".*?data-search="([^"]*)"', listing))
    for alias, row in CATALOG.aliases().items():
        assert alias in searchable[row.id].split()


def test_the_language_links_keep_the_choice_over_accept_language(client: TestClient) -> None:
    arabic = {"accept-language": "ar"}
    page = client.get("/docs/models/gpt-audio", headers=arabic).text
    links = dict(re.findall(r'<a href="([^"]+)" ?(?:aria-current="page")?>(\w\w)</a>', page))
    switch = {code: href for href, code in links.items()}
    assert switch == {"en": "/en/docs/models/gpt-audio", "ar": "/ar/docs/models/gpt-audio"}
    english = client.get(switch["en"], headers=arabic).text
    assert '<html lang="en"' in english
    back = re.search(r'<a href="([^"]+)">← ', english)
    assert back is not None and back.group(1) == "/en/docs/models"
    listing = client.get(back.group(1), headers=arabic).text
    assert '<html lang="en"' in listing and 'href="/en/docs/models/gpt-audio"' in listing


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_markdown_route_is_what_the_copy_button_copies(
    client: TestClient, language: str
) -> None:
    base = "/docs/models/gpt-audio"
    markdown = client.get(f"{base}.md?lang={language}")
    assert markdown.headers["content-type"].startswith("text/markdown")
    embedded = re.search(
        r'<script type="application/json" id="page-markdown">(.*?)</script>',
        client.get(f"{base}?lang={language}").text,
        re.S,
    )
    assert embedded is not None and json.loads(embedded.group(1)) == markdown.text
    text = markdown.text
    for entity in ("&#34;", "&#39;", "&lt;", "&gt;", "&amp;", "&quot;"):
        assert entity not in text
    assert "<?php" in text and "=> true" in text and '"model": "gpt-audio"' in text
    # A right-to-left page isolates the model's name in its heading (U+2068…U+2069).
    headings = [
        line.replace("\u2068", "").replace("\u2069", "")
        for line in text.splitlines()
        if line.startswith("## ")
    ]
    t = LANGUAGES[language]
    assert headings == [
        f"## {t['category_title']}",
        f"## {t['card_title']}",
        f"## {t['integration_eyebrow']} — {t['integration_title'].replace('{model}', 'GPT Audio')}",
        f"## {t['schema_eyebrow']} — {t['schema_title']}",
        f"## {t['payload_eyebrow']} — {t['payload_title']}",
        f"## {t['examples_eyebrow']} — {t['examples_title']}",
        f"## {t['chat_eyebrow']} — {t['chat_title']}",
        f"## {t['checklist_eyebrow']} — {t['checklist_title']}",
    ]
    assert client.get("/docs/models/no-such.md").status_code == 404


def test_chat_interface_pages_add_the_chat_sample_and_parameter_table(
    client: TestClient,
) -> None:
    page = client.get("/docs/models/gpt-audio").text
    assert 'data-outline="chat"' in page
    names = re.findall(r'<tr data-parameter="(\w+)">', page)
    assert names == CHAT_PARAMETERS
    chat = re.findall(r'<code id="chat-(\w+)" class="chat-sample"[^>]*>(.*?)</code>', page, re.S)
    assert [name for name, _ in chat] == ["curl", "javascript", "python", "php", "csharp", "go"]
    assert all("/v1/chat/completions" in html.unescape(code) for _, code in chat)
    plain = client.get("/docs/models/local-tts").text
    assert 'data-outline="chat"' not in plain and "data-parameter" not in plain


def test_the_page_shows_what_a_typical_request_holds(client: TestClient) -> None:
    page = client.get("/docs/models/gpt-audio-1.5").text
    found = re.search(r'<td id="typical-hold">\$(\d+\.\d{6})</td>', page)
    assert found is not None and Decimal(found.group(1)) <= Decimal("0.05")
    assert "2,048" in page


def test_a_bad_catalog_stops_start_up_naming_the_file_and_field(tmp_path: Path) -> None:
    catalog = copied_catalog(tmp_path)
    voices = catalog / "voices.yaml"
    voices.write_text(voices.read_text().replace("local: joe}", "local: amy}", 1))
    # No credentials given, so that only start-up reads the catalog.
    app = gateway_app(tmp_path / "data", catalog_dir=catalog, environment={})
    with (
        pytest.raises(CatalogError, match=r"voices\.yaml: field 'openai\.alloy\.local'"),
        TestClient(app),
    ):
        pass


def test_a_model_added_to_the_data_appears_everywhere(tmp_path: Path, data_dir: Path) -> None:
    catalog = copied_catalog(tmp_path)
    row = yaml.safe_load((catalog / "models" / "local-tts.yaml").read_text())
    row |= {"id": "local-tts-narrator", "name": "Narrator voice"}
    row["fields"][0]["accepted"] = ["local-tts-narrator"]
    row["example"]["model"] = "local-tts-narrator"
    (catalog / "models" / "local-tts-narrator.yaml").write_text(yaml.safe_dump(row))
    with TestClient(gateway_app(data_dir, catalog_dir=catalog)) as client:
        assert client.get("/api/v1/models/local-tts-narrator").json()["name"] == "Narrator voice"
        assert "local-tts-narrator" in client.get("/docs/models").text
        page = client.get("/docs/models/local-tts-narrator")
        assert page.status_code == 200 and "Narrator voice" in page.text


def copied_catalog(tmp_path: Path) -> Path:
    catalog = tmp_path / "catalog"
    shutil.copytree(
        Settings().catalog_dir, catalog, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    return catalog
