"""The pooled upstream client, against a real HTTP server on loopback."""

from aiohttp import web
from aiohttp.test_utils import TestServer

from voxgate.providers.http import UpstreamHttp


async def test_a_cookie_one_answer_sets_is_never_sent_on_a_later_request() -> None:
    """One session serves every workspace: a provider's Set-Cookie must not follow the next
    request, whoever makes it."""
    seen: list[str | None] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "workspace-a")
        return response

    app = web.Application()
    app.router.add_post("/v1/echo", answer)
    http = UpstreamHttp(timeout_seconds=5, max_response_bytes=1024)
    async with TestServer(app, host="127.0.0.1") as server:
        # By name: aiohttp's default jar keeps no cookie set by a bare IP address.
        url = f"http://localhost:{server.port}/v1/echo"
        for _ in range(2):
            assert await http.post_json("openai", url, headers={}, json={}) == {"ok": True}
    await http.aclose()
    assert seen == [None, None]
