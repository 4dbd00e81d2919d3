"""Hypothesis on the multipart parser of /v1/audio/transcriptions: random, truncated and
malformed form bodies are a 4xx in the OpenAI error shape, never a 500 and never a hold."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxgate.app import create_app
from voxgate.bootstrap import ensure_dev_access
from voxgate.settings import Settings

BOUNDARY = "vgboundary"


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    data_dir: Path = tmp_path_factory.mktemp("multipart")
    app = create_app(Settings(data_dir=data_dir, engine_preload=False))
    async with app.router.lifespan_context(app):
        access = await ensure_dev_access(app.state.services)
        headers = {"Authorization": f"Bearer {access.key}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway", headers=headers
        ) as client:
            yield client


def form(model: bytes, file: bytes, extra: bytes) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\n'.encode()
        + model
        + f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'.encode()
        + file
        + f"\r\n--{BOUNDARY}\r\n".encode()
        + extra
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


BODIES = st.one_of(
    st.binary(max_size=2048),
    st.builds(form, st.binary(max_size=64), st.binary(max_size=512), st.binary(max_size=128)),
    st.builds(
        lambda whole, keep: whole[: int(len(whole) * keep)],
        st.builds(form, st.just(b"whisper-1"), st.binary(max_size=512), st.just(b"")),
        st.floats(0, 1),
    ),
)
CONTENT_TYPES = st.sampled_from(
    [
        f"multipart/form-data; boundary={BOUNDARY}",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        f"multipart/form-data; boundary={'x' * 300}",
        "application/x-www-form-urlencoded",
        "text/plain",
    ]
)


@settings(
    max_examples=200,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES, content_type=CONTENT_TYPES)
def test_bad_forms_are_clean_4xx(client: httpx.AsyncClient, body: bytes, content_type: str) -> None:
    async def post_then_balance() -> tuple[httpx.Response, httpx.Response]:
        headers = {"content-type": content_type}
        response = await client.post("/v1/audio/transcriptions", content=body, headers=headers)
        return response, await client.get("/api/v1/balance")

    response, balance = asyncio.get_event_loop().run_until_complete(post_then_balance())
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["message"] and error["type"] == "invalid_request_error"
    assert balance.json()["held_micro_usd"] == 0
