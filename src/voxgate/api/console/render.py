"""The console's templates and labels, and the context every page handler works in: the
request, the services, the signed-in session, the language and the posted form."""

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from voxgate.api.console.session import (
    Session,
    csrf_token,
    current_session,
    session_key,
    valid_csrf,
)
from voxgate.api.context import services_of
from voxgate.money import format_usd
from voxgate.services import Services
from voxgate.types import MicroUSD
from voxgate.yaml_text import load_yaml

HERE = Path(__file__).parent
LANGUAGE_COOKIE = "vg_console_lang"
DEFAULT_LANGUAGE = "en"
# Pages carry secrets once (a new key) and a workspace's data: never cached, framed or fed
# from elsewhere.
PAGE_HEADERS = MappingProxyType(
    {
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    }
)


class ConsoleError(Exception):
    """A page that cannot be shown as asked: rendered as a page with this status."""

    def __init__(self, status_code: int, message_label: str) -> None:
        super().__init__(message_label)
        self.status_code = status_code
        self.message_label = message_label


class Templates:
    """Loaded once: the Jinja environment and every language's labels."""

    def __init__(self) -> None:
        self.environment = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters["usd"] = lambda micro: format_usd(MicroUSD(int(micro)))
        self.environment.filters["when"] = _when
        loaded = load_yaml((HERE / "labels.yaml").read_text(encoding="utf-8"))
        self.labels: Mapping[str, Mapping[str, str]] = MappingProxyType(loaded)
        english = set(self.labels[DEFAULT_LANGUAGE])
        # `t.keys` in a template would find the dict's method, not the label.
        shadowing = english & set(dir(dict))
        if shadowing:
            raise ValueError(f"console labels named like dict methods: {sorted(shadowing)}")
        for code, labels in self.labels.items():
            if set(labels) != english:
                raise ValueError(f"console labels for '{code}' differ from English's")

    def language_of(self, request: Request) -> str:
        chosen = request.cookies.get(LANGUAGE_COOKIE, DEFAULT_LANGUAGE)
        return chosen if chosen in self.labels else DEFAULT_LANGUAGE


@functools.cache
def templates() -> Templates:
    return Templates()


@dataclass
class Page:
    request: Request
    services: Services
    session: Session | None
    language: str
    form: FormData | None = None

    @property
    def t(self) -> Mapping[str, str]:
        return templates().labels[self.language]

    @property
    def signed_in(self) -> Session:
        assert self.session is not None, "only pages behind sign-in ask"
        return self.session

    def field(self, name: str) -> str | None:
        """A posted field, None when left empty."""
        assert self.form is not None
        value = self.form.get(name)
        return value.strip() or None if isinstance(value, str) else None

    def render(self, template: str, status_code: int = 200, **context: Any) -> Response:
        session = self.session
        body = (
            templates()
            .environment.get_template(template)
            .render(
                t=self.t,
                lang=self.language,
                languages=sorted(templates().labels),
                session=session,
                csrf=csrf_token(session_key(self.services), session) if session else "",
                here=self.request.url.path,
                **context,
            )
        )
        return HTMLResponse(body, status_code=status_code, headers=dict(PAGE_HEADERS))


Handler = Callable[[Page], Awaitable[Response]]


def page(handler: Handler, *, public: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A console page: signed in (or sent to sign in), its form checked against CSRF."""

    async def endpoint(request: Request) -> Response:
        services = services_of(request)
        language = templates().language_of(request)
        session = await current_session(request, services)
        context = Page(request, services, session, language)
        if session is None and not public:
            return RedirectResponse("/console/login", status_code=303)
        try:
            if request.method == "POST":
                context.form = await request.form()
                token = context.form.get("csrf")
                if session is not None and not (
                    isinstance(token, str) and valid_csrf(session_key(services), session, token)
                ):
                    raise ConsoleError(403, "error_csrf")
            return await handler(context)
        except ConsoleError as refused:
            return context.render(
                "error.html",
                status_code=refused.status_code,
                message=context.t[refused.message_label],
            )

    return endpoint


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"
