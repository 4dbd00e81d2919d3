"""Realtime for every client (issue 26): a refused handshake answers with its HTTP status and an
OpenAI-shaped error body; the frameworks' default realtime model names are served; Azure's
realtime paths hold a spoken turn for the official `AzureOpenAI` client."""

import asyncio
import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import websockets

from tests.e2e.test_realtime import question_pcm, settled
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(tmp_path_factory.mktemp("rt-refusals")) as served:
        yield served


def address(gateway: RunningGateway, query: str, path: str = "/v1/realtime") -> str:
    return "ws" + gateway.base_url.removeprefix("http") + f"{path}?{query}"


async def handshake(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """101 and the first event, or the refusal's status and body."""
    try:
        async with websockets.connect(url, additional_headers=headers) as socket:
            return 101, json.loads(await asyncio.wait_for(socket.recv(), 60))
    except websockets.InvalidStatus as refused:
        body: dict[str, Any] = json.loads(refused.response.body or b"{}")
        return refused.response.status_code, body


@pytest.mark.parametrize(
    ("query", "bearer", "status", "code", "named"),
    [
        ("model=gpt-audio-1.5", "vg_live_not-a-key", 401, "invalid_api_key", None),
        ("model=gpt-realtime-9", None, 404, "model_not_found", "gpt-realtime-9"),
        ("model=local-tts", None, 400, None, "local-tts"),
    ],
    ids=["bad-key", "unknown-model", "no-realtime"],
)
def test_a_refused_handshake_says_why(
    served: tuple[RunningGateway, RunningSimulator],
    query: str,
    bearer: str | None,
    status: int,
    code: str | None,
    named: str | None,
) -> None:
    gateway, _ = served
    key = bearer or gateway.new_workspace(f"rt-refused-{secrets.token_hex(4)}", "1.00")
    headers = {"Authorization": f"Bearer {key}"}
    answered, body = asyncio.run(handshake(address(gateway, query), headers))
    assert answered == status, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    if named is not None:
        assert named in error["message"] and error["param"] == "model"


@pytest.mark.parametrize("model", ["gpt-realtime-2.1", "gpt-realtime"])
def test_the_frameworks_default_realtime_models_are_served(
    served: tuple[RunningGateway, RunningSimulator], model: str
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-default-{secrets.token_hex(4)}", "1.00")
    headers = {"Authorization": f"Bearer {key}"}
    answered, event = asyncio.run(handshake(address(gateway, f"model={model}"), headers))
    assert (answered, event["type"]) == (101, "session.created"), event


async def spoken_turn(connection: Any, pcm: bytes) -> list[Any]:
    """One turn spoken into an SDK connection: every event until its response.done."""
    await connection.session.update(
        session={"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    )
    await connection.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
    await connection.input_audio_buffer.commit()
    await connection.response.create()
    events = []
    async for event in connection:
        events.append(event)
        if event.type in ("response.done", "error"):
            return events
    return events


@pytest.mark.parametrize(
    ("shape", "auth"), [("deployment", "api-key"), ("deployment", "bearer"), ("v1", "bearer")]
)
def test_azure_openai_realtime_holds_a_spoken_turn(
    served: tuple[RunningGateway, RunningSimulator], auth: str, shape: str
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-azure-{secrets.token_hex(4)}", "1.00")
    pcm = question_pcm(gateway, key)
    ws_base = "ws" + gateway.base_url.removeprefix("http")

    async def talk() -> list[Any]:
        credentials: dict[str, Any] = (
            {"api_key": key} if auth == "api-key" else {"azure_ad_token": key}
        )
        if shape == "deployment":
            client = openai.AsyncAzureOpenAI(
                azure_endpoint=gateway.base_url,
                api_version="2025-04-01-preview",
                azure_deployment="gpt-audio-1.5",
                websocket_base_url=f"{ws_base}/openai",
                **credentials,
            )
        else:
            client = openai.AsyncOpenAI(
                base_url=f"{gateway.base_url}/openai/v1",
                websocket_base_url=f"{ws_base}/openai/v1",
                api_key=key,
            )
        async with client.realtime.connect(model="gpt-audio-1.5") as connection:
            return await spoken_turn(connection, pcm)

    events = asyncio.run(asyncio.wait_for(talk(), timeout=90))
    kinds = [event.type for event in events]
    assert "response.output_audio.delta" in kinds and kinds[-1] == "response.done", kinds
    audio = b"".join(
        base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
    )
    assert len(audio) >= 24_000 * 2 // 2  # at least half a second of 24 kHz PCM16
    assert settled(gateway, key)["held_micro_usd"] == 0
