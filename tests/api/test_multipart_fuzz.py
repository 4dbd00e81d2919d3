"""Hypothesis on the multipart parser of /v1/audio/transcriptions: random, truncated and
malformed form bodies and boundaries are a 4xx in the OpenAI error shape that names the field
at fault (when one is), never a 500 and never a hold.

The app runs in-process through httpx.ASGITransport: the parser is the unit under test, and a
gateway process would only add a socket.
"""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.cpu_budget import cpu_seconds_at_most
from tests.database_fixtures import SqliteTemplate
from voxgate.app import create_app
from voxgate.bootstrap import ensure_dev_access
from voxgate.settings import Settings

BOUNDARY = "vgboundary"
FIELDS = [
    "file",
    "model",
    "language",
    "prompt",
    "response_format",
    "timestamp_granularities[]",
    "stream",
    "temperature",
]
MODELS = [b"whisper-1", b"local-whisper-tiny-en", b"local-tts", b"no-such-model", b""]
# Errors about the body as a whole; every other error names the field it refuses.
WHOLE_BODY_CODES = {"invalid_form", "request_too_large"}


@pytest.fixture(scope="module")
async def client(
    tmp_path_factory: pytest.TempPathFactory, sqlite_migrated: SqliteTemplate
) -> AsyncIterator[httpx.AsyncClient]:
    data_dir = sqlite_migrated.copy_into(tmp_path_factory.mktemp("multipart"))
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


def part(name: str, value: bytes, as_file: bool, headers: bytes) -> bytes:
    filename = '; filename="a.wav"' if as_file else ""
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n'.encode()
        + headers
        + b"\r\n"
        + value
        + b"\r\n"
    )


PARTS = st.builds(
    part,
    name=st.sampled_from(FIELDS) | st.sampled_from(FIELDS) | st.text(max_size=12),
    value=st.one_of(st.sampled_from(MODELS), st.binary(max_size=256)),
    as_file=st.booleans(),
    headers=st.sampled_from(
        [b"", b"", b"", b"Content-Type: audio/wav\r\n", b"X: \xff\x00\r\n", b"junk\r\n"]
    ),
)
# Well-formed forms of hostile parts: every field name, as text or as a file, any value.
FORMS = st.builds(
    lambda first, parts, end: first + b"".join(parts) + end,
    st.sampled_from(
        [b"", part("file", b"RIFF\x00", True, b""), part("model", b"whisper-1", False, b"")]
    ),
    st.lists(PARTS, max_size=8),
    st.sampled_from([f"--{BOUNDARY}--\r\n".encode()] * 3 + [b"", f"--{BOUNDARY}".encode()]),
)
BODIES = st.one_of(
    st.binary(max_size=2048),
    FORMS,
    st.builds(form, st.binary(max_size=64), st.binary(max_size=512), st.binary(max_size=128)),
    st.builds(
        lambda whole, keep: whole[: int(len(whole) * keep)],
        st.one_of(
            FORMS, st.builds(form, st.just(b"whisper-1"), st.binary(max_size=512), st.just(b""))
        ),
        st.floats(0, 1),
    ),
)
CONTENT_TYPES = st.one_of(
    # The right boundary half the time, so that most bodies reach the fields.
    st.just(f"multipart/form-data; boundary={BOUNDARY}"),
    st.sampled_from(
        [
            f"multipart/form-data; boundary={BOUNDARY}",
            f'multipart/form-data; boundary="{BOUNDARY}"',
            "multipart/form-data",
            "multipart/form-data; boundary=",
            f"multipart/form-data; boundary={'x' * 300}",
            "application/x-www-form-urlencoded",
            "text/plain",
        ]
    ),
    st.builds(
        lambda boundary: f"multipart/form-data; boundary={boundary}",
        st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=80),
    ),
)


def assert_clean_refusal(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["message"] and error["type"] == "invalid_request_error" and error["code"]
    assert "UploadFile(" not in error["message"], error  # no Python repr leaks into a message
    event(f"{response.status_code} {error['code']}")
    if error["code"] not in WHOLE_BODY_CODES:
        assert error["param"] is not None, error  # the client is told which field to fix


FUZZ = settings(
    max_examples=200,
    deadline=None,  # the wall clock; CPU time is limited in post_then_balance instead
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def post_then_balance(
    client: httpx.AsyncClient, body: bytes, content_type: str
) -> tuple[httpx.Response, httpx.Response]:
    async def both() -> tuple[httpx.Response, httpx.Response]:
        headers = {b"content-type": content_type.encode("latin-1")}  # as a client may send it
        response = await client.post("/v1/audio/transcriptions", content=body, headers=headers)
        return response, await client.get("/api/v1/balance")

    with cpu_seconds_at_most(2.0):
        return asyncio.get_event_loop().run_until_complete(both())


@FUZZ
@given(body=BODIES, content_type=CONTENT_TYPES)
def test_bad_forms_are_clean_4xx(client: httpx.AsyncClient, body: bytes, content_type: str) -> None:
    response, balance = post_then_balance(client, body, content_type)
    assert_clean_refusal(response)
    assert balance.json()["held_micro_usd"] == 0


@FUZZ
@given(body=FORMS)
def test_well_formed_forms_of_hostile_fields_name_the_field(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response, balance = post_then_balance(client, body, f"multipart/form-data; boundary={BOUNDARY}")
    assert_clean_refusal(response)
    assert balance.json()["held_micro_usd"] == 0


@pytest.mark.parametrize("field", [name for name in FIELDS if name != "file"])
async def test_a_text_field_sent_as_a_file_is_refused_by_name(
    client: httpx.AsyncClient, field: str
) -> None:
    files = {"file": ("a.wav", b"RIFF"), field: ("x.txt", b"whisper-1")}
    response = await client.post("/v1/audio/transcriptions", files=files)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field and error["code"] == "invalid_type", error


async def test_the_file_sent_as_a_text_field_is_refused_by_name(client: httpx.AsyncClient) -> None:
    data = {"model": "whisper-1", "file": "http://127.0.0.1:9/a.wav"}
    response = await client.post("/v1/audio/transcriptions", data=data)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "file" and error["code"] == "invalid_type", error


async def test_a_form_of_many_parts_is_refused_before_it_is_all_parsed(
    client: httpx.AsyncClient,
) -> None:
    data = {f"field{n}": "x" for n in range(500)}
    response = await client.post(
        "/v1/audio/transcriptions", data=data, files={"file": ("a.wav", b"RIFF")}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_form"
