"""An integer request field renders from its catalog row: the chat rows' output cap
(`max_output_tokens`) in English and Arabic."""

import re

import pytest

from voxgate.api.docs.locales import load_languages
from voxgate.api.docs.markdown import LTR_ISOLATE, POP_ISOLATE, page_markdown
from voxgate.api.docs.pages import DocsPages
from voxgate.api.docs.view import Accepted, AudioLimits, page_view
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)
LANGUAGES = load_languages(CATALOG)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_integer_output_cap_renders_in_both_languages(language: str) -> None:
    row = CATALOG.get("gpt-audio-1.5")
    assert row is not None
    spec = row.field("max_output_tokens")
    assert spec is not None and spec.type == "integer"
    view = page_view(
        row, LANGUAGES[language], "http://gateway", (), AudioLimits(25 * 2**20, 1800.0)
    )
    [cap] = [field for field in view.fields if field.name == "max_output_tokens"]
    # Read as people write it, and kept left to right on an Arabic page.
    assert cap.accepted == (Accepted("1–16,384", literal=True),)
    # English on the English page; translated, in the page's direction, on the Arabic one.
    if language == "en":
        assert (cap.description.text, cap.description.dir) == (spec.description, "ltr")
    else:
        assert cap.description.text != spec.description and cap.description.dir == "rtl"
    html = DocsPages(CATALOG).render(
        "model.html", LANGUAGES[language], page=view, markdown="", here="/"
    )
    shown = re.search(r'<tr data-field="max_output_tokens">(.*?)</tr>', html, re.S)
    assert shown is not None
    assert '<bdi dir="ltr">1–16,384</bdi>' in shown.group(1)
    assert '<bdi dir="ltr">integer</bdi>' in shown.group(1)
    row_markdown = next(
        line for line in page_markdown(view).splitlines() if "`max_output_tokens`" in line
    )
    bound = f"{LTR_ISOLATE}1–16,384{POP_ISOLATE}" if language == "ar" else "1–16,384"
    assert f"| {bound} |" in row_markdown
