"""The docs pages in headless Chromium: layout direction, copy buttons, filters, screenshots."""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.gateway_process import RunningGateway
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
# Chromium's own network calls are refused on this machine's closed network; keep it quiet.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api")
REFERENCE = load_catalog(Settings().catalog_dir).get("gpt-audio-1.5") or pytest.fail("no seed row")
PHONE_WIDTH = 390


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt-get)")
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: "Browser") -> Iterator["Page"]:
    context = browser.new_context(
        permissions=["clipboard-read", "clipboard-write"], viewport={"width": 1280, "height": 1600}
    )
    yield context.new_page()
    context.close()


@pytest.mark.parametrize(("language", "path"), [("en", ""), ("ar", "/ar")])
def test_pages_render_and_are_saved_as_screenshots(
    gateway: RunningGateway, page: "Page", language: str, path: str
) -> None:
    page.goto(f"{gateway.base_url}{path}/docs/models/gpt-audio-1.5")
    direction = page.evaluate("document.documentElement.dir")
    assert direction == ("rtl" if language == "ar" else "ltr")
    # Code stays left to right inside a right-to-left page.
    assert page.eval_on_selector("#sample-curl", "e => getComputedStyle(e).direction") == "ltr"
    assert page.locator("table.fields tbody tr").count() == len(REFERENCE.fields)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"docs-gpt-audio-1.5-{language}.png"), full_page=True)


def test_copy_buttons_put_the_right_text_on_the_clipboard(
    gateway: RunningGateway, page: "Page"
) -> None:
    page.goto(f"{gateway.base_url}/docs/models/gpt-audio-1.5")
    for target in ("sample-curl", "sample-go", "payload"):
        page.click(f"button[data-copy-target='{target}']")
        assert page.evaluate("navigator.clipboard.readText()") == page.text_content(f"#{target}")


@pytest.mark.parametrize(("model_id", "language"), [("gpt-audio-1.5", "en"), ("gpt-audio", "ar")])
def test_copy_page_as_markdown_copies_the_markdown_route(
    gateway: RunningGateway, page: "Page", model_id: str, language: str
) -> None:
    page.goto(f"{gateway.base_url}/docs/models/{model_id}?lang={language}")
    page.click("button.copy-markdown")
    copied = page.evaluate("navigator.clipboard.readText()")
    markdown = httpx.get(f"{gateway.base_url}/docs/models/{model_id}.md?lang={language}").text
    assert copied == markdown
    assert "&#34;" not in copied and "&lt;" not in copied


@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize(
    "path", ["/docs/models/gpt-audio-1.5", "/docs/models/gpt-audio", "/docs/models"]
)
def test_a_phone_wide_page_does_not_scroll_sideways(
    gateway: RunningGateway, browser: "Browser", language: str, path: str
) -> None:
    context = browser.new_context(
        viewport={"width": PHONE_WIDTH, "height": 844}, device_scale_factor=1
    )
    try:
        phone = context.new_page()
        phone.goto(f"{gateway.base_url}{path}?lang={language}")
        widths = phone.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1] == PHONE_WIDTH
        boxes = phone.eval_on_selector_all(
            ".scroll", "boxes => boxes.map(b => [b.scrollWidth, b.clientWidth])"
        )
        # A wide table stacks its rows, each value under its column's name: nothing hides
        # past the edge of the screen.
        stacked = phone.eval_on_selector_all(
            "table.stack td", "cells => cells.map(c => getComputedStyle(c).display)"
        )
        assert stacked and set(stacked) <= {"block", "inline-block"}
        assert boxes and all(inner <= outer for inner, outer in boxes)
        if path == "/docs/models":
            # Stacked rows still hide when the search leaves them out.
            phone.fill("#search", "whisper")
            heights = phone.eval_on_selector_all(
                "#models tbody tr", "rows => rows.map(r => [r.dataset.id, r.offsetHeight])"
            )
            assert all((height > 0) == ("whisper" in model) for model, height in heights)
        name = path.strip("/").replace("/", "-")
        ARTIFACTS.mkdir(exist_ok=True)
        phone.screenshot(path=str(ARTIFACTS / f"{name}-{language}-390.png"), full_page=True)
    finally:
        context.close()


def test_the_model_table_searches_and_filters(gateway: RunningGateway, page: "Page") -> None:
    page.goto(f"{gateway.base_url}/docs/models")
    visible = "rows => rows.filter(r => !r.hidden).map(r => r.dataset.id)"
    page.fill("#search", "whisper")
    shown = page.eval_on_selector_all("#models tbody tr", visible)
    assert shown and all("whisper" in model for model in shown)
    page.fill("#search", "")
    page.select_option("#task", "tts")
    shown = page.eval_on_selector_all("#models tbody tr", visible)
    assert "local-tts" in shown and "local-whisper-base" not in shown


# Where each character of a text (spaces left out) is shown, as [line top, horizontal centre],
# inside the first element `selector` finds whose text contains it.
GLYPH_CENTRES = """([selector, text]) => {
  for (const element of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const start = node.data.indexOf(text);
      if (start < 0) continue;
      const centres = [];
      for (let i = 0; i < text.length; i++) {
        if (text[i] === " ") continue;
        const range = document.createRange();
        range.setStart(node, start + i);
        range.setEnd(node, start + i + 1);
        const box = range.getBoundingClientRect();
        centres.push([Math.round(box.top), box.left + box.width / 2]);
      }
      return centres;
    }
  }
  return null;
}"""


@pytest.mark.parametrize(
    ("model_id", "selector", "text"),
    [
        # A negative number keeps its minus before it, not after it.
        ("gpt-audio", "tr[data-parameter='frequency_penalty']", "-2.0"),
        ("gpt-audio", "tr[data-parameter='logit_bias']", "-100"),
        # A range reads from its lower bound, and a JSON value as it is written.
        ("gpt-audio-1.5", "tr[data-field='speed']", "0.25–4"),
        ("gpt-audio", "tr[data-parameter='response_format']", '{"type": "text"}'),
        # A header, and an id in brackets, inside an Arabic sentence.
        ("gpt-audio-1.5", "#checklist li", "Authorization: Bearer <"),
        ("gpt-audio-1.5", "tr[data-key='client_secret']", "ek_…"),
        ("gpt-audio-1.5", "tr[data-field='response_format']", "pcm16, g711_ulaw, g711_alaw"),
    ],
)
@pytest.mark.parametrize("width", [PHONE_WIDTH, 1280])
def test_arabic_pages_keep_left_to_right_runs_in_order(
    gateway: RunningGateway,
    browser: "Browser",
    model_id: str,
    selector: str,
    text: str,
    width: int,
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{gateway.base_url}/ar/docs/models/{model_id}")
        glyphs = page.evaluate(GLYPH_CENTRES, [selector, text])
    finally:
        context.close()
    assert glyphs, f"{text!r} is not in {selector}"
    # Read left to right: line by line from the top, each line from the left.
    assert glyphs == sorted(glyphs), f"{text!r} is shown out of order: {glyphs}"


def test_an_arabic_cell_that_begins_with_a_latin_word_still_reads_right_to_left(
    gateway: RunningGateway, page: "Page"
) -> None:
    # tool_choice's Arabic note: "none أو auto أو required أو الدالة … يستدعيها النموذج."
    page.goto(f"{gateway.base_url}/ar/docs/models/gpt-audio")
    selector = "tr[data-parameter='tool_choice']"
    first = page.evaluate(GLYPH_CENTRES, [selector, "none"])
    last = page.evaluate(GLYPH_CENTRES, [selector, "النموذج"])
    assert first and last
    # The sentence starts at the right: its first word is right of its last one on one line.
    assert first[0][0] == last[0][0] and first[0][1] > last[0][1]
