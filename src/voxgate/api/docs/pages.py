"""The docs pages: /docs/models, /docs/models/{id} and /docs/models/{id}.md, in each language
with a locale file; the language comes from the path, then ?lang, then Accept-Language."""

from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from voxgate.api.catalog import model_body
from voxgate.api.context import services_of
from voxgate.api.docs.locales import (
    CODE_SPAN,
    DEFAULT_LANGUAGE,
    DOCS_DIR,
    Language,
    load_chat_parameters,
    load_languages,
)
from voxgate.api.docs.markdown import page_markdown
from voxgate.api.docs.view import AudioLimits, PageView, page_view
from voxgate.catalog.loader import Catalog
from voxgate.catalog.schema import ModelRow
from voxgate.errors import NotFoundError
from voxgate.gateway.inputs import MAX_AUDIO_BYTES
from voxgate.settings import Settings

HERE = DOCS_DIR
MARKDOWN_SUFFIX = ".md"


def code_spans(text: str) -> Markup:
    """The text HTML-escaped, its `code` set as <code dir="ltr">: an id, a header or a JSON
    value keeps its own left-to-right order inside a right-to-left sentence."""
    parts = CODE_SPAN.split(text)
    return Markup("").join(
        Markup('<code dir="ltr">%s</code>') % part if odd else escape(part)
        for odd, part in ((index % 2 == 1, part) for index, part in enumerate(parts))
    )


class DocsPages:
    """Templates and texts, loaded and checked once at start-up."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.languages = load_languages(catalog)
        self.chat_parameters = load_chat_parameters()
        self._environment = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._environment.filters["code_spans"] = code_spans
        # Compiled now, not by the first reader of each page.
        for template in ("model.html", "models.html"):
            self._environment.get_template(template)

    def render(self, template: str, language: Language, **context: Any) -> str:
        return self._environment.get_template(template).render(
            t=language.messages, lang=language.code, languages=sorted(self.languages), **context
        )

    def view(self, row: ModelRow, language: Language, settings: Settings) -> PageView:
        audio = AudioLimits(MAX_AUDIO_BYTES, settings.max_audio_seconds)
        return page_view(row, language, settings.base_url, self.chat_parameters, audio)


def language_of(request: Request, pages: DocsPages) -> Language:
    chosen = request.path_params.get("lang") or request.query_params.get("lang")
    if chosen is None:
        chosen = _accepted_language(request.headers.get("accept-language", ""), pages)
    if chosen not in pages.languages:
        raise NotFoundError(f"No docs in language '{chosen}'.", param="lang")
    return pages.languages[chosen]


def _accepted_language(header: str, pages: DocsPages) -> str:
    """The client's most preferred language that has docs (RFC 9110 weights; ar-EG → ar)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, parameters = item.strip().partition(";")
        weight = 1.0
        if parameters.strip().startswith("q="):
            try:
                weight = float(parameters.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in pages.languages and weight > 0:
            ranked.append((-weight, position, primary))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


async def models_page(request: Request) -> Response:
    services = services_of(request)
    pages: DocsPages = request.app.state.docs
    language = language_of(request, pages)
    rows = [_translated(model_body(row), language) for row in services.catalog]
    tasks = sorted({task for row in rows for task in row["tasks"]})
    html = pages.render("models.html", language, rows=rows, tasks=tasks, here="/docs/models")
    return HTMLResponse(html, headers={"vary": "accept-language"})


async def model_page(request: Request) -> Response:
    services = services_of(request)
    pages: DocsPages = request.app.state.docs
    language = language_of(request, pages)
    model_id: str = request.path_params["model_id"]
    as_markdown = model_id.endswith(MARKDOWN_SUFFIX)
    model_id = model_id.removesuffix(MARKDOWN_SUFFIX)
    row = services.catalog.get(model_id)
    if row is None:
        raise NotFoundError(f"No model '{model_id}'.", param="model", code="model_not_found")
    page = pages.view(row, language, services.settings)
    markdown = page_markdown(page)
    headers = {"vary": "accept-language"}
    if as_markdown:
        return PlainTextResponse(markdown, media_type="text/markdown", headers=headers)
    html = pages.render(
        "model.html", language, page=page, markdown=markdown, here=f"/docs/models/{row.id}"
    )
    return HTMLResponse(html, headers=headers)


def _translated(body: dict[str, Any], language: Language) -> dict[str, Any]:
    texts = language.catalog.models.get(body["id"])
    translated = bool(texts and texts.description)
    if texts and texts.description:
        body["description"] = texts.description
    # A translation reads in the page's direction; the English it falls back to, left to right.
    body["description_dir"] = language.messages["dir"] if translated else "ltr"
    return body
