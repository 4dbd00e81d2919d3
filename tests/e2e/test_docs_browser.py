"""The docs pages in headless Chromium: layout direction, copy buttons, filters, screenshots."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_process import RunningGateway

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


@pytest.fixture(scope="module")
def browser() -> Iterator["playwright_api.Browser"]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt-get)")
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: "playwright_api.Browser") -> Iterator["playwright_api.Page"]:
    context = browser.new_context(
        permissions=["clipboard-read", "clipboard-write"], viewport={"width": 1280, "height": 1600}
    )
    yield context.new_page()
    context.close()


@pytest.mark.parametrize(("language", "path"), [("en", ""), ("ar", "/ar")])
def test_pages_render_and_are_saved_as_screenshots(
    gateway: RunningGateway, page: "playwright_api.Page", language: str, path: str
) -> None:
    page.goto(f"{gateway.base_url}{path}/docs/models/gpt-audio-1.5")
    direction = page.evaluate("document.documentElement.dir")
    assert direction == ("rtl" if language == "ar" else "ltr")
    # Code stays left to right inside a right-to-left page.
    assert page.eval_on_selector("#sample-curl", "e => getComputedStyle(e).direction") == "ltr"
    assert page.locator("table.fields tbody tr").count() == 7
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"docs-gpt-audio-1.5-{language}.png"), full_page=True)


def test_copy_buttons_put_the_right_text_on_the_clipboard(
    gateway: RunningGateway, page: "playwright_api.Page"
) -> None:
    page.goto(f"{gateway.base_url}/docs/models/gpt-audio-1.5")
    for target in ("sample-curl", "sample-go", "payload"):
        page.click(f"button[data-copy-target='{target}']")
        assert page.evaluate("navigator.clipboard.readText()") == page.text_content(f"#{target}")
    page.click("button.copy-markdown")
    markdown = page.evaluate("navigator.clipboard.readText()")
    assert markdown.startswith("# GPT Audio 1.5 (`gpt-audio-1.5`)")
    assert "| model | string | yes | gpt-audio-1.5 |" in markdown


def test_the_model_table_searches_and_filters(
    gateway: RunningGateway, page: "playwright_api.Page"
) -> None:
    page.goto(f"{gateway.base_url}/docs/models")
    visible = "rows => rows.filter(r => !r.hidden).map(r => r.dataset.id)"
    page.fill("#search", "whisper")
    shown = page.eval_on_selector_all("#models tbody tr", visible)
    assert shown and all("whisper" in model for model in shown)
    page.fill("#search", "")
    page.select_option("#task", "tts")
    shown = page.eval_on_selector_all("#models tbody tr", visible)
    assert "local-tts" in shown and "local-whisper-base" not in shown
