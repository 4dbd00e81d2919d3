"""The web console in headless Chromium against a real gateway: sign-in, a key shown once and
revoked, limits and budgets changed, a chart drawn from real usage, the request log's filters,
a workspace key that sees its own workspace and nothing of another's, and an owner token that
manages its own workspace."""

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.gateway_process import ADMIN_TOKEN, RunningGateway

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
SPEECH = {"model": "local-tts", "input": "Hello from the console test.", "response_format": "pcm16"}

playwright_api = pytest.importorskip("playwright.sync_api")


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
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    opened = context.new_page()
    # Revoking and removing ask first; the tests say yes.
    opened.on("dialog", lambda dialog: dialog.accept())
    yield opened
    context.close()


def sign_in(page: "Page", gateway: RunningGateway, secret: str) -> None:
    page.goto(f"{gateway.base_url}/console")
    assert page.url.endswith("/console/login")
    page.fill("#token", secret)
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("form.logout")


def workspace_with_usage(gateway: RunningGateway, requests: int) -> tuple[str, str, list[str]]:
    """A new workspace, its key, and the ids of `requests` local speech requests it made."""
    key = gateway.new_workspace(f"console-{secrets.token_hex(4)}", "5.00")
    with gateway.client(key) as client:
        workspace_id = client.get("/api/v1/balance").json()["workspace_id"]
        ids = []
        for _ in range(requests):
            spoken = client.post("/api/v1/audio", json=SPEECH)
            assert spoken.status_code == 200, spoken.text
            ids.append(spoken.headers["x-request-id"])
    return workspace_id, key, ids


def test_a_bad_token_is_refused_and_the_session_cookie_keeps_the_secret_to_itself(
    gateway: RunningGateway, page: "Page"
) -> None:
    page.goto(f"{gateway.base_url}/console/login")
    page.fill("#token", "not-a-token")
    page.click("form.stack button[type=submit]")
    assert page.locator("p.error").is_visible()
    assert page.context.cookies() == []
    sign_in(page, gateway, ADMIN_TOKEN)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "vg_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert ADMIN_TOKEN not in cookie["value"] and ADMIN_TOKEN not in page.url
    assert page.url.endswith("/console/workspaces")
    assert page.locator("table.workspaces tbody tr").count() >= 1
    # Signing out ends the session: the console asks to sign in again.
    page.click("form.logout button")
    page.goto(f"{gateway.base_url}/console/workspaces")
    assert page.url.endswith("/console/login")


def test_a_new_key_is_shown_once_works_and_is_revoked(
    gateway: RunningGateway, page: "Page"
) -> None:
    workspace_id, _, _ = workspace_with_usage(gateway, 0)
    sign_in(page, gateway, ADMIN_TOKEN)
    page.goto(f"{gateway.base_url}/console/workspaces/{workspace_id}/keys")
    name = f"shown-once-{secrets.token_hex(3)}"
    page.fill("input[name=name]", name)
    page.click("section.card button[type=submit]")
    secret = page.text_content("#new-secret") or ""
    assert secret.startswith("vg_live_")
    with gateway.client(secret) as client:
        assert client.get("/api/v1/balance").json()["workspace_id"] == workspace_id
    page.reload()
    assert page.locator("#new-secret").count() == 0
    assert secret not in page.content()
    row = page.locator(f"tr[data-key-name='{name}']")
    assert row.count() == 1, "a reload must not create the key again"
    row.locator("button.danger").click()
    page.wait_for_url(f"**/console/workspaces/{workspace_id}/keys")
    assert page.locator(f"tr[data-key-name='{name}'] td.state").text_content() == "Revoked"
    with gateway.client(secret) as client:
        assert client.get("/api/v1/balance").status_code == 401


def test_key_limits_and_budgets_are_changed_in_the_console_and_read_by_the_admin_api(
    gateway: RunningGateway, page: "Page"
) -> None:
    workspace_id, _, _ = workspace_with_usage(gateway, 0)
    with gateway.admin() as admin:
        [key] = admin.get(f"/admin/v1/workspaces/{workspace_id}/keys").json()["data"]
    sign_in(page, gateway, ADMIN_TOKEN)
    page.goto(f"{gateway.base_url}/console/workspaces/{workspace_id}/keys/{key['id']}")
    page.fill("input[name=rpm_limit]", "42")
    page.fill("input[name=spend_limit_usd]", "1.25")
    page.click("section.card button[type=submit]")
    assert page.text_content("#rpm-limit") == "42"
    page.goto(f"{gateway.base_url}/console/workspaces/{workspace_id}/budgets")
    page.select_option("select[name=period]", "month")
    page.fill("input[name=request_limit]", "7")
    page.click("section.card button[type=submit]")
    with gateway.admin() as admin:
        limits = admin.get(f"/admin/v1/workspaces/{workspace_id}/keys/{key['id']}").json()
        [budget] = admin.get(f"/admin/v1/workspaces/{workspace_id}/budgets").json()["data"]
    assert (limits["rpm_limit"], limits["spend_limit_usd"]) == (42, "1.250000")
    assert (budget["period"], budget["request_limit"]) == ("month", 7)
    page.locator(f"tr[data-budget-id='{budget['id']}'] button.danger").click()
    page.wait_for_selector("text=No budgets.")
    with gateway.admin() as admin:
        assert admin.get(f"/admin/v1/workspaces/{workspace_id}/budgets").json()["data"] == []


def test_the_usage_charts_are_drawn_from_real_usage(gateway: RunningGateway, page: "Page") -> None:
    workspace_id, key, ids = workspace_with_usage(gateway, 3)
    with gateway.client(key) as client:
        records = client.get("/api/v1/usage").json()["data"]
    assert sorted(r["request_id"] for r in records) == sorted(ids)
    charged = sum(record["charged_micro_usd"] for record in records)
    assert charged > 0
    sign_in(page, gateway, key)
    page.goto(f"{gateway.base_url}/console/workspaces/{workspace_id}/usage")
    requests = page.locator("figure[data-chart=requests]")
    assert requests.get_attribute("data-total") == "3"
    spend = page.locator("figure[data-chart=spend]")
    assert spend.get_attribute("data-total") == f"{charged // 1_000_000}.{charged % 1_000_000:06d}"
    # One day's bar of the one model spent on, with a height the browser really laid out.
    bar = spend.locator("svg rect.bar")
    assert bar.count() == 1
    assert "local-tts" in (bar.locator("title").text_content() or "")
    box = bar.bounding_box()
    assert box is not None and box["height"] > 10
    assert page.locator("figure[data-chart=latency] svg circle").count() == 2
    assert page.locator("table.daily tbody tr").count() == 1


def test_the_request_log_finds_a_request_by_id_and_filters_by_status(
    gateway: RunningGateway, page: "Page"
) -> None:
    workspace_id, key, ids = workspace_with_usage(gateway, 3)
    sign_in(page, gateway, key)
    page.goto(f"{gateway.base_url}/console/workspaces/{workspace_id}/requests")
    assert page.locator("table.log tbody tr[data-request-id]").count() == 3
    page.fill("input[name=request_id]", ids[1])
    page.click("#filters button[type=submit]")
    rows = page.locator("table.log tbody tr[data-request-id]")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-request-id") == ids[1]
    assert ids[1] in page.url and key not in page.url
    page.goto(f"{gateway.base_url}/console/workspaces/{workspace_id}/requests")
    page.select_option("select[name=status]", "failed")
    page.click("#filters button[type=submit]")
    assert page.locator("table.log tbody tr[data-request-id]").count() == 0
    page.select_option("select[name=status]", "succeeded")
    page.select_option("select[name=model]", "local-tts")
    page.click("#filters button[type=submit]")
    assert page.locator("table.log tbody tr[data-request-id]").count() == 3


def test_a_workspace_key_sees_its_workspace_and_nothing_of_another_while_it_lives(
    gateway: RunningGateway, page: "Page"
) -> None:
    mine, my_key, _ = workspace_with_usage(gateway, 1)
    theirs, _, their_ids = workspace_with_usage(gateway, 1)
    with gateway.admin() as admin:
        their_name = admin.get(f"/admin/v1/workspaces/{theirs}").json()["name"]
    sign_in(page, gateway, my_key)
    assert page.url.endswith(f"/console/workspaces/{mine}")
    page.goto(f"{gateway.base_url}/console/workspaces")
    assert [r.get_attribute("data-workspace-id") for r in page.locator("tbody tr").all()] == [mine]
    for path in ("", "/keys", "/usage", "/requests", "/realtime", "/budgets"):
        answer = page.goto(f"{gateway.base_url}/console/workspaces/{theirs}{path}")
        assert answer is not None and answer.status == 404, path
        assert their_name not in page.content()
    answer = page.goto(f"{gateway.base_url}/console/margins")
    assert answer is not None and answer.status == 403
    page.goto(f"{gateway.base_url}/console/workspaces/{mine}/requests?request_id={their_ids[0]}")
    assert page.locator("table.log tbody tr[data-request-id]").count() == 0
    # A key manages nothing: the forms are not shown, and a post is refused.
    page.goto(f"{gateway.base_url}/console/workspaces/{mine}/keys")
    assert page.locator("input[name=name]").count() == 0
    csrf = page.locator("form.logout input[name=csrf]").get_attribute("value")
    refused = page.request.post(
        f"{gateway.base_url}/console/workspaces/{mine}/keys", form={"csrf": csrf, "name": "x"}
    )
    assert refused.status == 403
    # The session lives no longer than its key.
    with gateway.admin() as admin:
        [key] = admin.get(f"/admin/v1/workspaces/{mine}/keys").json()["data"]
        assert admin.post(f"/admin/v1/workspaces/{mine}/keys/{key['id']}/revoke").is_success
    page.goto(f"{gateway.base_url}/console/workspaces/{mine}")
    assert page.url.endswith("/console/login")


def test_an_owner_token_manages_its_workspaces_keys_and_nothing_of_another_while_it_lives(
    gateway: RunningGateway, page: "Page"
) -> None:
    mine, _, _ = workspace_with_usage(gateway, 0)
    theirs, _, _ = workspace_with_usage(gateway, 0)
    with gateway.admin() as admin:
        made = admin.post(f"/admin/v1/workspaces/{mine}/owner_tokens", json={"name": "alice"})
        assert made.status_code == 201, made.text
    sign_in(page, gateway, made.json()["secret"])
    assert page.url.endswith(f"/console/workspaces/{mine}")
    assert page.text_content("span.who") == "Workspace owner"
    for path in ("/keys", "/budgets"):
        answer = page.goto(f"{gateway.base_url}/console/workspaces/{theirs}{path}")
        assert answer is not None and answer.status == 404, path
    answer = page.goto(f"{gateway.base_url}/console/margins")
    assert answer is not None and answer.status == 403
    # Its own workspace's keys it creates, as the admin API lets it.
    page.goto(f"{gateway.base_url}/console/workspaces/{mine}/keys")
    name = f"by-owner-{secrets.token_hex(3)}"
    page.fill("input[name=name]", name)
    page.click("section.card button[type=submit]")
    assert (page.text_content("#new-secret") or "").startswith("vg_live_")
    with gateway.admin() as admin:
        names = [k["name"] for k in admin.get(f"/admin/v1/workspaces/{mine}/keys").json()["data"]]
        assert name in names
        revoked = admin.post(f"/admin/v1/workspaces/{mine}/owner_tokens/{made.json()['id']}/revoke")
        assert revoked.is_success, revoked.text
    # The session lives no longer than its token.
    page.goto(f"{gateway.base_url}/console/workspaces/{mine}")
    assert page.url.endswith("/console/login")


def test_a_post_without_the_forms_token_changes_nothing(
    gateway: RunningGateway, page: "Page"
) -> None:
    workspace_id, _, _ = workspace_with_usage(gateway, 0)
    sign_in(page, gateway, ADMIN_TOKEN)
    refused = page.request.post(
        f"{gateway.base_url}/console/workspaces/{workspace_id}/keys",
        form={"csrf": "0" * 64, "name": "forged"},
    )
    assert refused.status == 403
    with gateway.admin() as admin:
        keys = admin.get(f"/admin/v1/workspaces/{workspace_id}/keys").json()["data"]
    assert [key["name"] for key in keys] == ["test"]


def test_the_console_speaks_arabic_right_to_left(gateway: RunningGateway, page: "Page") -> None:
    workspace_id, key, _ = workspace_with_usage(gateway, 1)
    page.goto(f"{gateway.base_url}/console/login")
    page.click("nav.languages a[lang=ar]")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.text_content("h1") == "تسجيل الدخول"
    sign_in(page, gateway, key)
    page.goto(f"{gateway.base_url}/console/workspaces/{workspace_id}/usage")
    assert page.evaluate("document.documentElement.lang") == "ar"
    # Time still runs left to right in the charts.
    assert page.eval_on_selector("svg.plot", "e => getComputedStyle(e).direction") == "ltr"


def test_a_refused_form_says_why_in_arabic_naming_the_field(
    gateway: RunningGateway, page: "Page"
) -> None:
    workspace_id, _, _ = workspace_with_usage(gateway, 0)
    page.goto(f"{gateway.base_url}/console/language/ar?next=/console/login")
    sign_in(page, gateway, ADMIN_TOKEN)
    page.goto(f"{gateway.base_url}/console/workspaces/{workspace_id}/keys")
    page.fill("input[name=name]", "refused")
    page.fill("input[name=rpm_limit]", "-3")
    page.click("section.card button[type=submit]")
    assert page.text_content("p.error") == "قيمة «الطلبات في الدقيقة» غير صالحة."


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("language", ["en", "ar"])
def test_every_page_fits_its_width_and_is_saved_as_a_screenshot(
    gateway: RunningGateway, browser: "Browser", language: str, width: int
) -> None:
    """Nothing runs off the side of the page (wide tables scroll in their own box); the
    screenshots in test-artifacts/ are for people to look at."""
    workspace_id, _, _ = workspace_with_usage(gateway, 2)
    with gateway.admin() as admin:
        [key] = admin.get(f"/admin/v1/workspaces/{workspace_id}/keys").json()["data"]
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{gateway.base_url}/console/language/{language}?next=/console/login")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-login-{language}-{width}.png"), full_page=True)
    sign_in(page, gateway, ADMIN_TOKEN)
    workspace = f"/console/workspaces/{workspace_id}"
    pages = {
        "workspaces": "/console/workspaces",
        "workspace": workspace,
        "keys": f"{workspace}/keys",
        "key": f"{workspace}/keys/{key['id']}",
        "usage": f"{workspace}/usage",
        "requests": f"{workspace}/requests",
        "realtime": f"{workspace}/realtime",
        "budgets": f"{workspace}/budgets",
        "margins": "/console/margins",
        "catalog": "/console/catalog",
    }
    for name, path in pages.items():
        answer = page.goto(f"{gateway.base_url}{path}")
        assert answer is not None and answer.status == 200, path
        assert page.evaluate("document.documentElement.dir") == (
            "rtl" if language == "ar" else "ltr"
        )
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow} px wider than {width}"
        page.screenshot(
            path=str(ARTIFACTS / f"console-{name}-{language}-{width}.png"), full_page=True
        )
    context.close()
