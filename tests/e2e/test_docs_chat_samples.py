"""The reference page's code runs against the gateway and its simulated providers: the unified
samples of gpt-audio-1.5 from a $0.05 workspace, and the chat-completions samples of the chat
models, whose answers the official openai package's ChatCompletion model judges."""

import base64
import html
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai.types.chat import ChatCompletion

from tests.audio_probe import probe
from tests.e2e.test_docs_pages import run_sample
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway

RUNNABLE = ["curl", "python", "javascript", "php", "go"]


@pytest.fixture(scope="module")
def routed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(tmp_path_factory.mktemp("docs-samples")) as served:
        yield served


def page_samples(gateway: RunningGateway, model_id: str, kind: str, key: str) -> dict[str, str]:
    page = httpx.get(f"{gateway.base_url}/docs/models/{model_id}").text
    pattern = rf'<code id="[\w-]+" class="{kind}" data-language="(\w+)">(.*?)</code>'
    return {
        name: html.unescape(code).replace("YOUR_VOXGATE_KEY", key)
        for name, code in re.findall(pattern, page, re.S)
    }


@pytest.mark.parametrize("language", RUNNABLE)
def test_the_reference_samples_run_from_a_five_cent_workspace(
    routed: tuple[RunningGateway, RunningSimulator], language: str, tmp_path: Path
) -> None:
    gateway, _ = routed
    key = gateway.new_workspace(f"docs-{secrets.token_hex(4)}", "0.05")
    code = page_samples(gateway, "gpt-audio-1.5", "sample", key)[language]
    reply = json.loads(run_sample(language, code, tmp_path))
    assert reply["object"] == "audio.chat"
    assert probe(base64.b64decode(reply["data"]["audio_base64"])).duration_seconds > 0


@pytest.mark.parametrize(
    ("model_id", "language"),
    [*(("gpt-audio", language) for language in RUNNABLE), ("gpt-audio-1.5", "python")],
)
def test_the_chat_completion_samples_run(
    routed: tuple[RunningGateway, RunningSimulator], model_id: str, language: str, tmp_path: Path
) -> None:
    gateway, _ = routed
    key = gateway.new_workspace(f"docs-chat-{secrets.token_hex(4)}", "5.00")
    code = page_samples(gateway, model_id, "chat-sample", key)[language]
    completion = ChatCompletion.model_validate_json(run_sample(language, code, tmp_path))
    audio = completion.choices[0].message.audio
    assert completion.model and audio is not None
    assert probe(base64.b64decode(audio.data)).duration_seconds > 0
