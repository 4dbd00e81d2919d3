"""The console's routes, mounted by the application beside the APIs."""

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from voxgate.api.console import pages, reports, voice
from voxgate.api.console.render import HERE, page

WORKSPACE = "/console/workspaces/{workspace_id}"
READ = ["GET"]
FORM = ["GET", "POST"]

ROUTES = [
    Route("/console", page(pages.home), methods=READ),
    Route("/console/login", page(pages.login, public=True), methods=FORM),
    Route("/console/logout", page(pages.logout), methods=["POST"]),
    Route("/console/language/{code}", page(pages.language, public=True), methods=READ),
    Route("/console/workspaces", page(pages.workspaces), methods=READ),
    Route(WORKSPACE, page(pages.workspace), methods=READ),
    Route(f"{WORKSPACE}/speech_cache", page(pages.speech_cache), methods=["POST"]),
    Route(f"{WORKSPACE}/keys", page(pages.keys), methods=FORM),
    Route(f"{WORKSPACE}/keys/{{key_id}}", page(pages.key_limits), methods=FORM),
    Route(f"{WORKSPACE}/keys/{{key_id}}/revoke", page(pages.revoke_key), methods=["POST"]),
    Route(f"{WORKSPACE}/budgets", page(pages.budgets), methods=FORM),
    Route(f"{WORKSPACE}/budgets/{{budget_id}}/delete", page(pages.delete_budget), methods=["POST"]),
    Route(f"{WORKSPACE}/usage", page(reports.usage), methods=READ),
    Route(f"{WORKSPACE}/requests", page(reports.request_log), methods=READ),
    Route(f"{WORKSPACE}/realtime", page(reports.realtime), methods=READ),
    Route("/console/margins", page(reports.margins), methods=READ),
    Route("/console/catalog", page(reports.catalog), methods=READ),
    Route("/console/voice", page(voice.voice, public=True), methods=READ),
    Route("/console/voice/secret", page(voice.voice_secret), methods=["POST"]),
    Mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static"),
]
