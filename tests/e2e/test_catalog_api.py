"""Aliases on a real gateway: served and recorded as their rows, failed over, and opening
realtime sessions. (The catalog API itself is tested in process: tests/api/test_catalog_api.py.)"""

import asyncio
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import websockets
from openai.types.audio import Transcription
from openai.types.chat import ChatCompletion

from tests.audio_probe import probe
from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator, routed_gateway
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)
AZURE_SECONDARY = "azure-secondary-key"


@pytest.fixture(scope="module")
def routed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(
        tmp_path_factory.mktemp("aliases"), AZURE_OPENAI_API_KEY_SECONDARY=AZURE_SECONDARY
    ) as served:
        yield served


@pytest.fixture
def sdk(routed: tuple[RunningGateway, RunningSimulator]) -> openai.OpenAI:
    gateway, sim = routed
    sim.reset()
    key = gateway.new_workspace(f"aliases-{secrets.token_hex(4)}", "5.00")
    return openai.OpenAI(api_key=key, base_url=f"{gateway.base_url}/v1", max_retries=0)


def recorded_model(sdk: openai.OpenAI, request_id: str) -> str:
    base = str(sdk.base_url).removesuffix("/v1/")
    headers = {"Authorization": f"Bearer {sdk.api_key}"}
    record = httpx.get(f"{base}/api/v1/usage/{request_id}", headers=headers).json()
    return str(record["model"])


def test_framework_default_names_are_served_and_recorded_as_their_rows(
    sdk: openai.OpenAI,
) -> None:
    speech = sdk.audio.speech.with_raw_response.create(
        model="tts-1", voice="alloy", input="Hello there.", response_format="wav"
    )
    assert recorded_model(sdk, speech.headers["x-request-id"]) == "gpt-4o-mini-tts"
    audio = speech.content
    assert probe(audio).duration_seconds > 0
    heard = sdk.audio.transcriptions.with_raw_response.create(
        model="gpt-4o-transcribe", file=("hello.wav", audio, "audio/wav")
    )
    assert isinstance(heard.parse(), Transcription)
    assert recorded_model(sdk, heard.headers["x-request-id"]) == "whisper-1"
    chat = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-audio-preview", messages=[{"role": "user", "content": "Say hi."}]
    )
    assert isinstance(chat.parse(), ChatCompletion)
    assert recorded_model(sdk, chat.headers["x-request-id"]) == "gpt-audio"


def test_the_reference_model_fails_over_to_its_second_key_then_to_openai(
    routed: tuple[RunningGateway, RunningSimulator], sdk: openai.OpenAI
) -> None:
    gateway, sim = routed
    body = CATALOG.get("gpt-audio-1.5").example  # type: ignore[union-attr]
    headers = {"Authorization": f"Bearer {sdk.api_key}"}
    sim.queue_faults(SIM_KEYS["azure"], {"kind": "503"})
    reply = httpx.post(f"{gateway.base_url}/api/v1/audio", json=body, headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    assert [r["credential"] for r in sim.requests()] == [SIM_KEYS["azure"], AZURE_SECONDARY]
    sim.reset()
    sim.queue_faults(SIM_KEYS["azure"], {"kind": "503"})
    sim.queue_faults(AZURE_SECONDARY, {"kind": "503"})
    reply = httpx.post(f"{gateway.base_url}/api/v1/audio", json=body, headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    assert [r["credential"] for r in sim.requests()] == [
        SIM_KEYS["azure"],
        AZURE_SECONDARY,
        SIM_KEYS["primary"],
    ]
    assert sim.requests()[-1]["path"] == "/v1/chat/completions"


def test_a_secret_minted_for_an_alias_opens_a_session_at_that_alias(
    routed: tuple[RunningGateway, RunningSimulator], sdk: openai.OpenAI
) -> None:
    gateway, _ = routed
    headers = {"Authorization": f"Bearer {sdk.api_key}"}
    session = {"type": "realtime", "model": "gpt-realtime", "instructions": "Answer briefly."}
    minted = httpx.post(
        f"{gateway.base_url}/v1/realtime/client_secrets", json={"session": session}, headers=headers
    )
    assert minted.status_code == 200, minted.text
    url = "ws" + gateway.base_url.removeprefix("http") + "/v1/realtime?model=gpt-realtime"

    async def first_event() -> dict[str, Any]:
        bearer = {"Authorization": f"Bearer {minted.json()['value']}"}
        async with websockets.connect(url, additional_headers=bearer) as socket:
            event: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 10))
            return event

    assert asyncio.run(first_event())["type"] == "session.created"
