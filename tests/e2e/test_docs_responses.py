"""The reference page documents each task's answer exactly as a real gateway serves it: every
key of `data` and `usage` and its JSON type, the `object`, and a sample that has the same shape.
The gateway answers from its embedded engine (Piper, Whisper), the cascade's text model is the
simulator, and a realtime task mints a real secret."""

import html
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.gateway_process import RunningGateway, routed_gateway

# What a documented JSON type admits (JSON numbers may be whole; booleans are not numbers).
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "object": (dict,),
    "string | null": (str, type(None)),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, str]]:
    with routed_gateway(tmp_path_factory.mktemp("docs-responses")) as (gateway, _sim):
        yield gateway, gateway.new_workspace(f"docs-shapes-{secrets.token_hex(4)}", "5.00")


def documented(gateway: RunningGateway, model_id: str, task: str) -> dict[str, Any]:
    """What the page says `task` answers: its object, data and usage keys with their types,
    and its sample response."""
    page = httpx.get(f"{gateway.base_url}/docs/models/{model_id}").text
    data = dict(re.findall(rf'<tr data-task="{task}" data-key="(\w+)" data-type="([^"]+)">', page))
    usage = dict(re.findall(r'<tr data-usage-key="(\w+)" data-type="([^"]+)">', page))
    sample = re.search(
        rf'<code id="response-{task}" class="response-sample">(.*?)</code>', page, re.S
    )
    heading = re.search(rf">task: {task}</code> · <code[^>]*>object: ([\w.]+)<", page)
    assert data and usage and sample and heading, f"{model_id} documents no {task} answer"
    return {
        "object": heading.group(1),
        "data": data,
        "usage": usage,
        "sample": json.loads(html.unescape(sample.group(1))),
    }


def assert_shape(answer: dict[str, Any], documented: dict[str, Any], what: str) -> None:
    assert set(answer) == {"object", "data", "usage"}, what
    assert answer["object"] == documented["object"], what
    for part in ("data", "usage"):
        types = documented[part]
        assert set(answer[part]) == set(types), f"{what}: {part} keys"
        for key, kind in types.items():
            value = answer[part][key]
            assert isinstance(value, TYPES[kind]) and not isinstance(value, bool), (
                f"{what}: {part}.{key} is {value!r}, documented as {kind}"
            )


def speech_clip(gateway: RunningGateway, key: str) -> str:
    with gateway.client(key) as client:
        spoken = client.post(
            "/api/v1/audio",
            json={
                "model": "local-tts",
                "input": "Hello there, how are you today?",
                "response_format": "wav",
            },
        )
    assert spoken.status_code == 200, spoken.text
    audio: str = spoken.json()["data"]["audio_base64"]
    return "data:audio/wav;base64," + audio


CALLS = [
    ("local-tts", "tts", {"input": "Hello there.", "response_format": "mp3"}),
    ("local-whisper-tiny-en", "transcription", {"input": "<clip>"}),
    ("local-whisper-base", "transcription", {"input": "<clip>"}),
    ("local-whisper-base", "translation", {"input": "<clip>"}),
    ("local-voice-chat", "audio_chat", {"input": "What is the capital of France?"}),
    ("local-realtime", "realtime", {"input": "You are a museum guide."}),
    ("gpt-audio-1.5", "realtime", {"input": "You are a museum guide.", "voice": "verse"}),
    ("gpt-audio-1.5", "tts", {"input": "Hello there."}),
    ("gpt-audio-1.5", "audio_chat", {"input": "Say hello."}),
    ("gpt-audio-1.5", "transcription", {"input": "<clip>"}),
]


@pytest.mark.parametrize(
    ("model_id", "task", "body"),
    [pytest.param(*call, id=f"{call[0]}-{call[1]}") for call in CALLS],
)
def test_each_task_answers_exactly_as_its_page_documents(
    served: tuple[RunningGateway, str], model_id: str, task: str, body: dict[str, Any]
) -> None:
    gateway, key = served
    if body["input"] == "<clip>":
        body = body | {"input": speech_clip(gateway, key)}
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json={"model": model_id, "task": task, **body})
    assert response.status_code == 200, response.text
    page = documented(gateway, model_id, task)
    what = f"{model_id} {task}"
    assert_shape(response.json(), page, what)
    # The sample beside the table is an answer of the same shape.
    assert_shape(page["sample"], page, f"{what} (the page's sample)")
    if task == "realtime":
        assert set(response.json()["data"]["session"]) >= set(page["sample"]["data"]["session"])


@pytest.mark.parametrize("model_id", ["gpt-audio-1.5", "local-voice-chat", "whisper-1"])
def test_every_task_of_a_row_has_its_answer_documented_in_both_languages(
    served: tuple[RunningGateway, str], model_id: str
) -> None:
    gateway, _ = served
    row = httpx.get(f"{gateway.base_url}/api/v1/models/{model_id}").json()
    rows = {
        language: re.findall(
            r'<tr data-task="(\w+)" data-key="(\w+)" data-type="([^"]+)">',
            httpx.get(f"{gateway.base_url}/{language}/docs/models/{model_id}").text,
        )
        for language in ("en", "ar")
    }
    assert rows["en"] == rows["ar"]
    assert {task for task, _, _ in rows["en"]} == set(row["tasks"])
