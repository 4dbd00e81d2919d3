"""What the reference pages say and how they say it: samples laid out as on the reference page,
Markdown a CommonMark renderer reads as the page means it, nothing an operator configures, the
realtime task's formats, and text that keeps its direction on a right-to-left page."""

import gc
import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt
from starlette.testclient import TestClient

from tests.api.test_docs_pages import CATALOG, LANGUAGES, LOCALES
from tests.database_fixtures import SqliteTemplate
from voxgate.catalog.schema import ModelRow
from voxgate.testing import gateway_app

MODEL_IDS = sorted(row.id for row in CATALOG)
ARABIC_CATALOG = yaml.safe_load((LOCALES / "catalog" / "ar.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, sqlite_migrated: SqliteTemplate
) -> Iterator[TestClient]:
    """One app for the module's pages, in process with its lifespan; the pages are public."""
    data_dir = sqlite_migrated.copy_into(tmp_path_factory.mktemp("docs-text"))
    with TestClient(gateway_app(data_dir)) as started:
        yield started
    gc.unfreeze()  # what the lifespan froze at start


def page_of(client: TestClient, model_id: str, language: str, suffix: str = "") -> str:
    response = client.get(f"/{language}/docs/models/{model_id}{suffix}")
    assert response.status_code == 200
    return response.text


def code_samples(page: str) -> dict[str, str]:
    found = re.findall(
        r'<code id="((?:sample|chat)-\w+)" class="(?:sample|chat-sample)"[^>]*>(.*?)</code>',
        page,
        re.S,
    )
    return {name: html.unescape(code) for name, code in found}


@pytest.mark.parametrize("model_id", ["gpt-audio-1.5", "gpt-audio", "local-tts"])
def test_code_samples_are_pretty_printed_one_field_a_line(
    client: TestClient, model_id: str
) -> None:
    page = page_of(client, model_id, "en")
    row = CATALOG.get(model_id)
    assert row is not None
    samples = code_samples(page)
    assert len(samples) == (12 if row.interface == "chat" else 6)
    for name, code in samples.items():
        if name.endswith("csharp"):
            code = code.replace('""', '"')  # a verbatim string doubles its quotes
        payload: dict[str, Any] = row.example
        if name.startswith("chat-"):
            payload = {"model": row.id, "modalities": [], "audio": {}, "messages": []}
        for key in payload:
            # Each field of the body starts its own line, indented under the opening brace.
            assert re.search(rf'^[ \t]+"{key}": ', code, re.M), f"{name}: {key}"
        assert code.count("\n") >= len(payload) + 2, name
    shown = re.search(r'<code id="payload">(.*?)</code>', page, re.S)
    assert shown is not None
    assert html.unescape(shown.group(1)) == json.dumps(row.example, indent=2, ensure_ascii=False)


def rendered_text(markdown: str) -> str:
    """The text a reader sees once a CommonMark renderer has made HTML of the Markdown."""
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


@pytest.mark.parametrize("language", ["en", "ar"])
def test_markdown_keeps_angle_bracket_text_as_text(client: TestClient, language: str) -> None:
    markdown = page_of(client, "gpt-audio-1.5", language, ".md")
    t = LANGUAGES[language]
    assert "<workspace key>" in t["checklist_auth"] or "<مفتاح" in t["checklist_auth"]
    # Rendered, the checklist reads exactly as written, brackets and all.
    shown = rendered_text(markdown).replace("\u2066", "").replace("\u2069", "")
    assert t["checklist_auth"].replace("`", "") in shown
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    inline_html = [
        child.content
        for token in tokens
        for child in token.children or ()
        if child.type in ("html_inline", "autolink")
    ]
    assert inline_html == [], inline_html
    # The code is not escaped: a fence holds it as it is.
    assert "<?php" in markdown and "\\<" not in markdown.split("```json")[1].split("```")[0]


def operator_names(row: ModelRow) -> set[str]:
    return {
        name
        for route in row.routes
        for credential in route.credentials
        for name in (credential.api_key_env, credential.base_url_env)
        if name
    }


OPERATOR_VARIABLE = re.compile(r"\b[A-Z][A-Z0-9]*_(?:[A-Z0-9]+_)*(?:API_KEY|BASE_URL|ENDPOINT)\b")


@pytest.mark.parametrize("language", ["en", "ar"])
def test_public_pages_name_no_operator_variable(client: TestClient, language: str) -> None:
    names = set().union(*(operator_names(row) for row in CATALOG))
    assert "AZURE_OPENAI_API_KEY_SECONDARY" in names
    pages = [client.get(f"/{language}/docs/models").text]
    for model_id in MODEL_IDS:
        pages += [page_of(client, model_id, language), page_of(client, model_id, language, ".md")]
    for text in pages:
        assert not OPERATOR_VARIABLE.findall(text)
        assert not [name for name in names if name in text]


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_gemini_voice_mapping_only_where_a_route_uses_gemini(
    client: TestClient, model_id: str
) -> None:
    row = CATALOG.get(model_id)
    assert row is not None
    gemini = any(route.provider == "gemini" for route in row.routes)
    for language in ("en", "ar"):
        for suffix in ("", ".md"):
            mentioned = "gemini" in page_of(client, model_id, language, suffix).lower()
            assert mentioned == gemini, (model_id, language, suffix)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_realtime_task_lists_only_the_formats_a_session_speaks(
    client: TestClient, language: str
) -> None:
    t = LANGUAGES[language]
    page = page_of(client, "gpt-audio-1.5", language)
    cell = re.search(
        r'<tr data-field="response_format">.*?<td class="accepted"[^>]*>(.*?)</td>', page, re.S
    )
    assert cell is not None
    lines = [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in cell.group(1).split("<br>")]
    assert lines == [
        f"{t['for_other_tasks']}: mp3, wav, opus, flac, pcm16, aac",
        f"{t['for_realtime']}: pcm16, g711_ulaw, g711_alaw",
    ]
    markdown = page_of(client, "gpt-audio-1.5", language, ".md")
    assert "pcm16, g711_ulaw, g711_alaw" in markdown
    # A row without the realtime task lists its formats alone.
    plain = page_of(client, "gpt-audio", language)
    assert "g711" not in plain


def test_arabic_arrows_point_the_way_the_page_reads(client: TestClient) -> None:
    arabic = page_of(client, "gpt-audio-1.5", "ar")
    assert re.search(r'<a href="/ar/docs/models">→ ', arabic)
    assert "نصي + صوتي ← نصي + صوتي" in arabic and "صوتي →" not in arabic
    listing = client.get("/ar/docs/models").text
    assert " → " not in listing and " ← " in listing
    english = page_of(client, "gpt-audio-1.5", "en")
    assert re.search(r'<a href="/en/docs/models">← ', english) and "text + audio → text" in english


def test_arabic_texts_read_right_to_left_and_english_left_to_right(
    client: TestClient,
) -> None:
    page = page_of(client, "gpt-audio", "ar")
    # tool_choice's Arabic note begins with a Latin word; it is still an Arabic sentence.
    row = re.search(r'<tr data-parameter="tool_choice">(.*?)</tr>', page)
    assert row is not None
    assert re.findall(r'<td dir="(\w+)"', row.group(1))[-1] == "rtl"
    fields = re.findall(r'<tr data-field="\w+">.*?</tr>', page, re.S)
    assert fields and all('<td dir="rtl"' in field for field in fields)
    assert 'dir="auto"' not in page
    listing = client.get("/ar/docs/models").text
    assert 'dir="auto"' not in listing
