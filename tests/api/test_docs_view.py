"""A request field the pages have not met yet renders from its catalog row alone: an integer
output cap (as `max_output_tokens` is added to the chat rows) in English and Arabic."""

import re
from typing import Any

import pytest

from voxgate.api.docs.locales import load_languages
from voxgate.api.docs.markdown import LTR_ISOLATE, POP_ISOLATE, page_markdown
from voxgate.api.docs.pages import DocsPages
from voxgate.api.docs.view import Accepted, AudioLimits, page_view
from voxgate.catalog.loader import load_catalog
from voxgate.catalog.schema import FieldSpec, ModelRow
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)
LANGUAGES = load_languages(CATALOG)
DESCRIPTION = "The most output tokens one answer may take, up to the model's 16,384."
# Typed loosely: the name may be new to this build's list of field names.
CAP_NAME: Any = "max_output_tokens"


def with_output_cap() -> ModelRow:
    row = CATALOG.get("gpt-audio-1.5")
    assert row is not None
    # Built without validation: the field's name may be new to this build's schema.
    cap = FieldSpec.model_construct(
        name=CAP_NAME,
        type="integer",
        required=False,
        accepted=None,
        minimum=1,
        maximum=16384,
        max_length=None,
        description=DESCRIPTION,
    )
    return row.model_copy(update={"fields": (*row.fields, cap)})


@pytest.mark.parametrize("language", ["en", "ar"])
def test_an_integer_output_cap_renders_in_both_languages(language: str) -> None:
    row = with_output_cap()
    view = page_view(
        row, LANGUAGES[language], "http://gateway", (), AudioLimits(25 * 2**20, 1800.0)
    )
    cap = view.fields[-1]
    assert cap.name == "max_output_tokens" and cap.type == "integer"
    # Read as people write it, and kept left to right on an Arabic page.
    assert cap.accepted == (Accepted("1–16,384", literal=True),)
    # Untranslated, the English reads left to right on either page.
    assert cap.description.text == DESCRIPTION and cap.description.dir == "ltr"
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
    assert f"| {bound} |" in row_markdown and DESCRIPTION in row_markdown
