"""Sign-in, workspaces, keys and budgets: the console's pages that show and change state."""

from decimal import Decimal
from types import MappingProxyType
from typing import Any

from starlette.responses import RedirectResponse, Response

from voxgate.api.admin import KeyLimits, NewKey
from voxgate.api.admin_budgets import NewBudget, budget_body
from voxgate.api.bodies import parse
from voxgate.api.console.render import LANGUAGE_COOKIE, ConsoleError, Page, templates
from voxgate.api.console.session import (
    COOKIE,
    COOKIE_PATH,
    SESSION_SECONDS,
    encode,
    session_key,
    set_cookie,
    sign_in,
)
from voxgate.errors import InvalidRequestError
from voxgate.money import MICRO
from voxgate.store.workspaces import WorkspaceRecord

# A form field whose label is not named after it.
FIELD_LABELS = MappingProxyType({"key_id": "applies_to"})

LANGUAGE_SECONDS = 365 * 24 * 3600


async def home(page: Page) -> Response:
    session = page.signed_in
    target = (
        "/console/workspaces"
        if session.is_operator
        else f"/console/workspaces/{session.workspace_id}"
    )
    return RedirectResponse(target, status_code=303)


async def login(page: Page) -> Response:
    if page.form is None:
        return page.render("login.html")
    secret = page.field("token") or ""
    session = await sign_in(page.services, secret) if secret else None
    if session is None:
        return page.render("login.html", status_code=401, error=page.t["error_sign_in"])
    response = RedirectResponse("/console", status_code=303)
    set_cookie(response, page.request, encode(session_key(page.services), session), SESSION_SECONDS)
    return response


async def logout(page: Page) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


async def language(page: Page) -> Response:
    """Remember a language; the page asked from comes back in it."""
    code = page.request.path_params["code"]
    if code not in templates().labels:
        raise ConsoleError(404, "error_not_found")
    back = page.request.query_params.get("next", "/console")
    # Only a page of the console, never another site.
    if not back.startswith("/console") or back.startswith("//"):
        back = "/console"
    response = RedirectResponse(back, status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE, code, max_age=LANGUAGE_SECONDS, path=COOKIE_PATH, samesite="strict"
    )
    return response


async def workspaces(page: Page) -> Response:
    session = page.signed_in
    if session.is_operator:
        records = await page.services.workspaces.list()
    else:
        records = [await visible_workspace(page, session.workspace_id or "")]
    holds = await page.services.usage.open_hold_counts()
    rows = [
        await _with_wallet(page, record) | {"live_holds": holds.get(record.id, 0)}
        for record in records
    ]
    return page.render("workspaces.html", workspaces=rows)


async def workspace(page: Page) -> Response:
    record = await visible_workspace(page)
    holds = await page.services.usage.open_holds(record.id)
    keys = {key.id: key.name for key in await page.services.keys.list(record.id)}
    return page.render(
        "workspace.html", workspace=await _with_wallet(page, record), holds=holds, key_names=keys
    )


async def speech_cache(page: Page) -> Response:
    """Turn the workspace's speech cache on or off, as PATCH /admin/v1/workspaces/{id} does."""
    record = await visible_workspace(page)
    operator_only(page)
    await page.services.set_speech_cache(record.id, page.field("speech_cache") == "on")
    return RedirectResponse(f"/console/workspaces/{record.id}", status_code=303)


async def keys(page: Page) -> Response:
    record = await visible_workspace(page)
    created: dict[str, Any] | None = None
    error = None
    if page.form is not None:
        managers_only(page)
        try:
            created = await _create_key(page, record)
        except InvalidRequestError as exc:
            error = _form_error(page, exc)
    listed = await page.services.keys.list(record.id)
    return page.render(
        "keys.html",
        status_code=400 if error else 201 if created else 200,
        workspace=record,
        keys=listed,
        created=created,
        error=error,
    )


async def _create_key(page: Page, record: WorkspaceRecord) -> dict[str, Any]:
    body = parse(NewKey, _fields(page, "name", "spend_limit_usd", "rpm_limit", "concurrency_limit"))
    key, secret = await page.services.keys.create_key(
        record.id,
        body.name,
        spend_limit_micro_usd=_micro(body.spend_limit_usd),
        rpm_limit=body.rpm_limit,
        concurrency_limit=body.concurrency_limit,
    )
    return {"id": key.id, "name": key.name, "secret": secret}


async def revoke_key(page: Page) -> Response:
    record = await visible_workspace(page)
    managers_only(page)
    key_id = page.request.path_params["key_id"]
    if not await page.services.keys.revoke(record.id, key_id):
        raise ConsoleError(404, "error_not_found")
    return RedirectResponse(f"/console/workspaces/{record.id}/keys", status_code=303)


async def key_limits(page: Page) -> Response:
    """A key's limits, spend and holds, as GET /admin/v1/workspaces/{id}/keys/{key_id} reads
    them; the operator changes them as its PATCH does (a limit left empty is lifted)."""
    record = await visible_workspace(page)
    key_id = page.request.path_params["key_id"]
    error = None
    if page.form is not None:
        managers_only(page)
        try:
            body = parse(
                KeyLimits, _fields(page, "spend_limit_usd", "rpm_limit", "concurrency_limit")
            )
        except InvalidRequestError as exc:
            error = _form_error(page, exc)
        else:
            await page.services.keys.set_limits(
                record.id,
                key_id,
                spend_limit_micro_usd=_micro(body.spend_limit_usd),
                rpm_limit=body.rpm_limit,
                concurrency_limit=body.concurrency_limit,
            )
            return RedirectResponse(page.request.url.path, status_code=303)
    limits = await page.services.keys.limits(record.id, key_id)
    if limits is None:
        raise ConsoleError(404, "error_not_found")
    names = {key.id: key.name for key in await page.services.keys.list(record.id)}
    return page.render(
        "key.html",
        status_code=400 if error else 200,
        workspace=record,
        key_id=key_id,
        key_name=names.get(key_id, key_id),
        limits=limits,
        error=error,
    )


async def budgets(page: Page) -> Response:
    record = await visible_workspace(page)
    error = None
    if page.form is not None:
        managers_only(page)
        fields = _fields(
            page, "period", "key_id", "spend_limit_usd", "request_limit", "audio_minutes_limit"
        )
        try:
            body = parse(NewBudget, fields)
            await _check_key(page, record, body.key_id)
        except InvalidRequestError as exc:
            error = _form_error(page, exc)
        else:
            await page.services.budgets.create(
                record.id, body.period, body.stored(), key_id=body.key_id
            )
            return RedirectResponse(page.request.url.path, status_code=303)
    listed = [budget_body(b) for b in await page.services.budgets.all(record.id)]
    key_list = await page.services.keys.list(record.id)
    return page.render(
        "budgets.html",
        status_code=400 if error else 200,
        workspace=record,
        budgets=listed,
        keys=key_list,
        key_names={key.id: key.name for key in key_list},
        error=error,
    )


async def _check_key(page: Page, record: WorkspaceRecord, key_id: str | None) -> None:
    if key_id is not None and key_id not in {
        k.id for k in await page.services.keys.list(record.id)
    }:
        raise InvalidRequestError(f"No key '{key_id}' in this workspace.", param="key_id")


async def delete_budget(page: Page) -> Response:
    record = await visible_workspace(page)
    managers_only(page)
    if not await page.services.budgets.delete(record.id, page.request.path_params["budget_id"]):
        raise ConsoleError(404, "error_not_found")
    return RedirectResponse(f"/console/workspaces/{record.id}/budgets", status_code=303)


async def visible_workspace(page: Page, workspace_id: str | None = None) -> WorkspaceRecord:
    """The workspace of the path, if this session may see it; another workspace's answers as
    one that does not exist, so that its existence is not told either."""
    wanted = workspace_id or page.request.path_params["workspace_id"]
    if not page.signed_in.may_see(wanted):
        raise ConsoleError(404, "error_not_found")
    record = await page.services.workspaces.get(wanted)
    if record is None:
        raise ConsoleError(404, "error_not_found")
    return record


def operator_only(page: Page) -> None:
    if not page.signed_in.is_operator:
        raise ConsoleError(403, "error_operator_only")


def managers_only(page: Page) -> None:
    """Keys and budgets are changed by the operator and the workspace's owner (the workspace
    itself was checked first); a workspace key only reads them."""
    if not page.signed_in.manages:
        raise ConsoleError(403, "error_managers_only")


async def _with_wallet(page: Page, record: WorkspaceRecord) -> dict[str, Any]:
    wallet = await page.services.ledger.wallet(record.id)
    assert wallet is not None, "every workspace has a wallet"
    return {
        "id": record.id,
        "name": record.name,
        "created_at": record.created_at,
        "speech_cache": record.speech_cache,
        "balance_micro_usd": wallet.balance_micro_usd,
        "held_micro_usd": wallet.held_micro_usd,
        "available_micro_usd": wallet.available_micro_usd,
    }


def _form_error(page: Page, exc: InvalidRequestError) -> str:
    """A refused form's error in the page's language: English keeps the validator's detail;
    another language names the field by its label on the form."""
    if page.language == "en" or exc.param is None:
        return exc.message
    field = page.t.get(FIELD_LABELS.get(exc.param, exc.param), exc.param)
    return page.t["error_invalid_field"].format(field=field)


def _fields(page: Page, *names: str) -> dict[str, str]:
    """The named fields that were filled in: an empty one is left out, as in a JSON body."""
    return {name: value for name in names if (value := page.field(name)) is not None}


def _micro(usd: Decimal | None) -> int | None:
    return None if usd is None else int(usd * MICRO)
