"""Realtime sessions through the gateway: minted secrets, the relayed socket, metered billing."""

import asyncio
import base64
import contextlib
import io
import json
import secrets
import sqlite3
import time
import wave
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import websockets

from tests.audio_probe import probe_pcm16, word_error_rate
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway

QUESTION = "What time does the museum open tomorrow?"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(tmp_path_factory.mktemp("rt"), fast=False) as served:
        yield served


def ws_url(gateway: RunningGateway) -> str:
    return "ws" + gateway.base_url.removeprefix("http") + "/v1/realtime?model=gpt-audio-1.5"


def mint(gateway: RunningGateway, key: str, seconds: int = 600) -> dict[str, Any]:
    with gateway.client(key) as client:
        response = client.post(
            "/v1/realtime/client_secrets",
            json={
                "expires_after": {"anchor": "created_at", "seconds": seconds},
                "session": {
                    "type": "realtime",
                    "model": "gpt-audio-1.5",
                    "voice": "alloy",
                    "instructions": "Answer briefly.",
                },
            },
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def question_pcm(gateway: RunningGateway, key: str) -> bytes:
    with gateway.client(key) as client:
        reply = client.post(
            "/api/v1/audio",
            json={"model": "local-tts", "input": QUESTION, "response_format": "pcm16"},
        )
    return base64.b64decode(reply.json()["data"]["audio_base64"])


async def converse(url: str, secret: str, pcm: bytes, turns: int = 1) -> list[dict[str, Any]]:
    """Speak `turns` times and collect every event, until the last answer or the socket closes."""
    events: list[dict[str, Any]] = []
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {secret}"}
    ) as socket:
        # Turns are committed by hand here, so the server's VAD is off.
        manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        await socket.send(json.dumps({"type": "session.update", "session": manual}))
        try:
            for _ in range(turns):
                await speak_turn(socket, pcm)
                while not events or events[-1]["type"] not in ("response.done", "error"):
                    events.append(json.loads(await asyncio.wait_for(socket.recv(), timeout=60)))
                if events[-1]["type"] == "error":
                    break
                events.append({"type": "turn.end"})
        except websockets.ConnectionClosed:
            pass
        # Whatever the server sent before it closed is still buffered here.
        with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
            while True:
                events.append(json.loads(await asyncio.wait_for(socket.recv(), timeout=2)))
    return [event for event in events if event["type"] != "turn.end"]


async def speak_turn(socket: Any, pcm: bytes) -> None:
    for start in range(0, len(pcm), 9600):
        chunk = base64.b64encode(pcm[start : start + 9600]).decode()
        await socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
    await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
    await socket.send(json.dumps({"type": "response.create"}))


def balance(gateway: RunningGateway, key: str) -> dict[str, Any]:
    with gateway.client(key) as client:
        body: dict[str, Any] = client.get("/api/v1/balance").json()
    return body


def settled(gateway: RunningGateway, key: str) -> dict[str, Any]:
    """The balance once the session has been settled (the server settles after the socket ends)."""
    deadline = time.monotonic() + 30
    while (wallet := balance(gateway, key))["held_micro_usd"]:
        assert time.monotonic() < deadline, f"the session's hold was never settled: {wallet}"
        time.sleep(0.1)
    return wallet


def test_a_minted_secret_opens_a_metered_session(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-{secrets.token_hex(4)}", "1.00")
    minted = mint(gateway, key)
    assert minted["value"].startswith("ek_") and minted["expires_at"] > 0
    assert minted["session"]["websocket_url"].endswith("/v1/realtime?model=gpt-audio-1.5")
    pcm = question_pcm(gateway, key)
    before = balance(gateway, key)["balance_micro_usd"]
    events = asyncio.run(converse(ws_url(gateway), minted["value"], pcm))
    kinds = [e["type"] for e in events]
    assert "session.updated" in kinds and kinds[-1] == "response.done"
    heard = next(
        e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"
    )
    assert word_error_rate(QUESTION, heard["transcript"]) <= 0.2
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    assert probe_pcm16(audio).duration_seconds > 1
    usage = events[-1]["response"]["usage"]
    # Billed once, at $2.50 / $10.00 per 1M tokens (audio at the text rates on the seed row).
    expected = (usage["input_tokens"] * 25 + usage["output_tokens"] * 100 + 5) // 10
    wallet = settled(gateway, key)
    assert before - wallet["balance_micro_usd"] == expected
    with gateway.client(key) as client:
        records = [r for r in client.get("/api/v1/usage").json()["data"] if r["task"] == "realtime"]
    # The transcription and the response were each charged as they finished, on records of
    # their own; the session's record lists what it charged and costs nothing more.
    [session] = [r for r in records if "." not in r["request_id"]]
    kinds = [line["piece"] for line in session["lines"]]
    assert kinds == ["conversation.item.input_audio_transcription.completed", "response.done"]
    [response] = [r for r in records if r["request_id"] == session["request_id"] + ".2"]
    assert response["cost_micro_usd"] == expected and session["cost_micro_usd"] == 0


def test_revoked_and_unknown_secrets_are_refused(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-{secrets.token_hex(4)}", "1.00")
    minted = mint(gateway, key)
    with gateway.admin() as admin:
        workspace_keys = admin.get("/admin/v1/workspaces").json()["data"]
        for workspace in workspace_keys:
            for row in admin.get(f"/admin/v1/workspaces/{workspace['id']}/keys").json()["data"]:
                if key.startswith(row["prefix"]):
                    admin.post(f"/admin/v1/workspaces/{workspace['id']}/keys/{row['id']}/revoke")

    async def connect(secret: str) -> None:
        async with websockets.connect(
            ws_url(gateway), additional_headers={"Authorization": f"Bearer {secret}"}
        ):
            pass

    for secret in (minted["value"], "ek_" + "x" * 43):
        with pytest.raises(websockets.InvalidStatus):
            asyncio.run(connect(secret))


def test_an_expired_secret_is_refused(served: tuple[RunningGateway, RunningSimulator]) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-{secrets.token_hex(4)}", "1.00")
    minted = mint(gateway, key, seconds=10)
    # Ten seconds is the shortest lifetime; the test ages this one in the database instead.
    with sqlite3.connect(gateway.data_dir / "voxgate.db") as database:
        database.execute("UPDATE realtime_secrets SET expires_at = '2000-01-01 00:00:00.000000'")

    async def connect() -> None:
        headers = {"Authorization": f"Bearer {minted['value']}"}
        async with websockets.connect(ws_url(gateway), additional_headers=headers):
            pass

    with pytest.raises(websockets.InvalidStatus):
        asyncio.run(connect())


def test_secret_lifetimes_are_bounded(served: tuple[RunningGateway, RunningSimulator]) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-{secrets.token_hex(4)}", "1.00")
    with gateway.client(key) as client:
        for seconds in (5, 7201):
            response = client.post(
                "/v1/realtime/client_secrets",
                json={"expires_after": {"seconds": seconds}, "session": {"model": "gpt-audio-1.5"}},
            )
            assert response.status_code == 400


def test_a_secret_naming_a_transcription_model_outside_the_catalog_is_refused(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-{secrets.token_hex(4)}", "1.00")
    transcription = {"model": "no-such-transcriber"}
    bodies = {
        "/v1/realtime/client_secrets": (
            {
                "session": {
                    "model": "gpt-audio-1.5",
                    "audio": {"input": {"transcription": transcription}},
                }
            },
            "session.audio.input.transcription.model",
        ),
        "/v1/realtime/sessions": (
            {"model": "gpt-audio-1.5", "input_audio_transcription": transcription},
            "input_audio_transcription.model",
        ),
    }
    with gateway.client(key) as client:
        for path, (body, param) in bodies.items():
            response = client.post(path, json=body)
            assert response.status_code == 400, response.text
            assert response.json()["error"]["param"] == param


def test_a_session_out_of_credit_is_closed_with_an_error(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-poor-{secrets.token_hex(4)}", "0.012")
    minted = mint(gateway, key)
    pcm = question_pcm(gateway, key)
    events = asyncio.run(converse(ws_url(gateway), minted["value"], pcm, turns=20))
    assert events[-1]["type"] == "error"
    assert events[-1]["error"]["code"] == "insufficient_credit"
    wallet = settled(gateway, key)
    assert wallet["balance_micro_usd"] >= 0
    # Nothing is spent beyond what was held: the session stops at the credit it had.
    assert wallet["balance_micro_usd"] < 12_000


def test_task_realtime_on_the_unified_endpoint(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-{secrets.token_hex(4)}", "1.00")
    body = {
        "model": "gpt-audio-1.5",
        "task": "realtime",
        "input": "You are a museum guide.",
        "voice": "verse",
    }
    with gateway.client(key) as client:
        reply = client.post("/api/v1/audio", json=body).json()
        bad = client.post("/api/v1/audio", json=body | {"voice": "nope"})
    assert reply["object"] == "realtime.session"
    assert reply["data"]["client_secret"].startswith("ek_")
    assert reply["data"]["session"] == {
        "type": "realtime",
        "model": "gpt-audio-1.5",
        "instructions": "You are a museum guide.",
        "audio": {"output": {"voice": "verse", "format": {"type": "audio/pcm", "rate": 24_000}}},
    }
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "voice"
    pcm = question_pcm(gateway, key)
    events = asyncio.run(converse(ws_url(gateway), reply["data"]["client_secret"], pcm))
    assert events[-1]["type"] == "response.done"


async def local_turn(url: str, key: str, pcm: bytes, cancel: bool = False) -> list[dict[str, Any]]:
    """Speak, then a second of silence for the server's VAD to end the turn."""
    events: list[dict[str, Any]] = []
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {key}"}
    ) as socket:
        await socket.send(
            json.dumps(
                {
                    "type": "session.update",
                    "session": {"instructions": "Be brief.", "voice": "onyx"},
                }
            )
        )
        silence = bytes(2 * 24_000)
        for start in range(0, len(pcm + silence), 4800):
            chunk = (pcm + silence)[start : start + 4800]
            await socket.send(
                json.dumps(
                    {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
                )
            )
        while not events or events[-1]["type"] != "response.done":
            event = json.loads(await asyncio.wait_for(socket.recv(), timeout=60))
            events.append(event)
            if cancel and event["type"] == "response.created":
                await socket.send(json.dumps({"type": "response.cancel"}))
    return events


def test_the_local_cascade_answers_a_spoken_question(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-local-{secrets.token_hex(4)}", "1.00")
    pcm = question_pcm(gateway, key)
    before = balance(gateway, key)["balance_micro_usd"]
    url = "ws" + gateway.base_url.removeprefix("http") + "/v1/realtime?model=local-realtime"
    events = asyncio.run(local_turn(url, key, pcm))
    kinds = [e["type"] for e in events]
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index(
        "input_audio_buffer.speech_stopped"
    )
    heard = next(
        e["transcript"]
        for e in events
        if e["type"] == "conversation.item.input_audio_transcription.completed"
    )
    assert word_error_rate(QUESTION, heard) <= 0.2
    transcript = next(
        e["transcript"] for e in events if e["type"] == "response.output_audio_transcript.done"
    )
    assert transcript.startswith("The simulator heard:")
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    assert probe_pcm16(audio).duration_seconds > 1
    with gateway.client(key) as client:
        wav = client.post(
            "/api/v1/audio", json={"model": "local-tts", "input": "x", "response_format": "wav"}
        )
        assert wav.status_code == 200
        spoken = client.post(
            "/api/v1/audio",
            json={
                "model": "local-whisper-tiny-en",
                "input": "data:audio/wav;base64," + base64.b64encode(_wav(audio)).decode(),
            },
        ).json()
    assert word_error_rate(transcript, spoken["data"]["text"]) <= 0.25
    assert events[-1]["response"]["status"] == "completed"
    assert settled(gateway, key)["balance_micro_usd"] < before


def test_response_cancel_stops_the_speech(served: tuple[RunningGateway, RunningSimulator]) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-cancel-{secrets.token_hex(4)}", "1.00")
    pcm = question_pcm(gateway, key)
    url = "ws" + gateway.base_url.removeprefix("http") + "/v1/realtime?model=local-realtime"
    events = asyncio.run(local_turn(url, key, pcm, cancel=True))
    assert events[-1]["response"]["status"] == "cancelled"


def _wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(24_000)
        file.writeframes(pcm)
    return out.getvalue()


def test_the_official_sdk_realtime_client_connects(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-sdk-{secrets.token_hex(4)}", "1.00")
    pcm = question_pcm(gateway, key)

    async def talk() -> list[str]:
        client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key)
        kinds: list[str] = []
        async with client.realtime.connect(model="gpt-audio-1.5") as connection:
            await connection.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
            await connection.input_audio_buffer.commit()
            await connection.response.create()
            async for event in connection:
                kinds.append(event.type)
                if event.type == "response.done":
                    break
        return kinds

    kinds = asyncio.run(asyncio.wait_for(talk(), timeout=60))
    assert "response.output_audio.delta" in kinds and kinds[-1] == "response.done"
    assert settled(gateway, key)["held_micro_usd"] == 0
