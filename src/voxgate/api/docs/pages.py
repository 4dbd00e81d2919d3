"""The docs pages: /docs/models and /docs/models/{id}, in each language with a catalog file."""

import json
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from voxgate.api.catalog import model_body
from voxgate.api.docs.samples import LANGUAGES, code_samples
from voxgate.catalog.schema import ModelRow
from voxgate.errors import NotFoundError
from voxgate.gateway.pipeline import RESPONSE_OBJECTS
from voxgate.services import services_of

HERE = Path(__file__).parent
DEFAULT_LANGUAGE = "en"


class DocsPages:
    """Templates and message catalogs, loaded once."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, str]] = {
            path.stem: yaml.safe_load(path.read_text(encoding="utf-8"))
            for path in sorted((HERE / "locales").glob("*.yaml"))
        }
        english = set(self.messages[DEFAULT_LANGUAGE])
        for language, messages in self.messages.items():
            if set(messages) != english:
                missing = sorted(english ^ set(messages))
                raise ValueError(f"locales/{language}.yaml differs from English in: {missing}")
        self._environment = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, template: str, language: str, **context: Any) -> str:
        messages = self.messages[language]
        return self._environment.get_template(template).render(
            t=messages, lang=language, languages=sorted(self.messages), **context
        )


def language_of(request: Request, pages: DocsPages) -> str:
    language = (
        request.path_params.get("lang") or request.query_params.get("lang") or DEFAULT_LANGUAGE
    )
    if language not in pages.messages:
        raise NotFoundError(f"No docs in language '{language}'.", param="lang")
    return str(language)


async def models_page(request: Request) -> Response:
    services = services_of(request)
    pages: DocsPages = request.app.state.docs
    language = language_of(request, pages)
    rows = [model_body(row) for row in services.catalog]
    tasks = sorted({task for row in rows for task in row["tasks"]})
    html = pages.render("models.html", language, rows=rows, tasks=tasks, prefix=_prefix(request))
    return HTMLResponse(html)


async def model_page(request: Request) -> Response:
    services = services_of(request)
    pages: DocsPages = request.app.state.docs
    language = language_of(request, pages)
    row = services.catalog.get(request.path_params["model_id"])
    if row is None:
        raise NotFoundError(f"No model '{request.path_params['model_id']}'.", param="model")
    context = page_context(row, services.settings.base_url)
    markdown = page_markdown(pages.messages[language], context)
    html = pages.render(
        "model.html", language, markdown=markdown, prefix=_prefix(request), **context
    )
    return HTMLResponse(html)


def page_context(row: ModelRow, base_url: str) -> dict[str, Any]:
    samples = code_samples(base_url, row.example)
    return {
        "model": model_body(row),
        "endpoint": f"{base_url}/api/v1/audio",
        "payload": json.dumps(row.example, indent=2, ensure_ascii=False),
        "response": json.dumps(_response_shape(row), indent=2),
        "samples": [(name, LANGUAGES[name][0], code) for name, code in samples.items()],
    }


def page_markdown(t: dict[str, str], context: dict[str, Any]) -> str:
    """The page as Markdown, for the copy button: the same sections, the same data."""
    model = context["model"]
    rows = [
        f"| {f['name']} | {f['type']} | {t['yes'] if f.get('required') else t['no']} | "
        f"{', '.join(f.get('accepted', [])) or t['any_value']} | {f['description']} |"
        for f in model["fields"]
    ]
    prices = [f"- {t['price_unit_' + unit]}: ${price}" for unit, price in model["pricing"].items()]
    code = [
        f"### {label}\n\n```{name}\n{sample}\n```" for name, label, sample in context["samples"]
    ]
    return "\n\n".join(
        [
            f"# {model['name']} (`{model['id']}`)",
            model["description"],
            f"## {t['pricing']}\n\n" + "\n".join(prices),
            f"## {t['connect']}\n\n- {t['connect_endpoint']}: `POST {context['endpoint']}`\n"
            f"- {t['connect_provider']}: {model['provider']}\n"
            f"- {t['connect_endpoint_type']}: {model['endpoint_type']}",
            f"## {t['fields']}\n\n| {t['field_name']} | {t['field_type']} | {t['field_required']} | "
            f"{t['field_accepted']} | {t['field_description']} |\n|---|---|---|---|---|\n"
            + "\n".join(rows),
            f"## {t['example_payload']}\n\n```json\n{context['payload']}\n```",
            f"## {t['response_shape']}\n\n```json\n{context['response']}\n```",
            f"## {t['code']}\n\n" + "\n\n".join(code),
        ]
    )


def _response_shape(row: ModelRow) -> dict[str, Any]:
    task = row.default_task
    speaks = task in ("tts", "audio_chat")
    data: dict[str, Any] = (
        {"content_type": "audio/mpeg", "audio_base64": "<base64-audio>"}
        if speaks
        else {"text": "<transcript>", "language": "en", "duration": 6.0}
    )
    return {
        "object": RESPONSE_OBJECTS[task],
        "data": data,
        "usage": {"estimated_audio_minutes": "0.100000", "cost_usd": "0.000000"},
    }


def _prefix(request: Request) -> str:
    lang = request.path_params.get("lang")
    return f"/{lang}" if lang else ""
