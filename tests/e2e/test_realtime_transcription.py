"""Realtime transcription sessions (issue 26): `?intent=transcription`, GA `session.type:
"transcription"` and beta `transcription_session.update`, on the local engine (Silero VAD and
faster-whisper) and relayed to the simulator; every server event judged by the official
`openai` package's unions, the audio charged per minute at the transcription model's row."""

import asyncio
import base64
import json
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import RealtimeServerEvent as GAServerEvent
from pydantic import TypeAdapter

from tests.audio_probe import word_error_rate
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway, whole_lines
from voxgate.simulator.engine import FAST_TRANSCRIPT

GA: TypeAdapter[Any] = TypeAdapter(GAServerEvent)  # type: ignore[arg-type]
BETA: TypeAdapter[Any] = TypeAdapter(BetaServerEvent)  # type: ignore[arg-type]
BETA_HEADERS = {"OpenAI-Beta": "realtime=v1"}
SENTENCE = "Please send the quarterly report to the finance team by Friday."
TIMEOUT = 60
CHUNK = 4800  # 100 ms of 24 kHz PCM16


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(tmp_path_factory.mktemp("rt-transcription")) as served:
        yield served


@pytest.fixture(scope="module")
def speech(served: tuple[RunningGateway, RunningSimulator]) -> bytes:
    """SENTENCE spoken by the gateway's own engine, as 24 kHz PCM16."""
    gateway, _ = served
    key = gateway.new_workspace(f"tts-{secrets.token_hex(4)}", "1.00")
    with gateway.client(key) as client:
        reply = client.post(
            "/api/v1/audio",
            json={"model": "local-tts", "input": SENTENCE, "response_format": "pcm16"},
        )
    assert reply.status_code == 200, reply.text
    return base64.b64decode(reply.json()["data"]["audio_base64"])


def address(gateway: RunningGateway, query: str) -> str:
    return "ws" + gateway.base_url.removeprefix("http") + f"/v1/realtime?{query}"


async def session_events(
    url: str, key: str, pcm: bytes, *, beta: bool, model: str | None
) -> list[dict[str, Any]]:
    """Greeting, settings, the speech then two seconds of silence: every event up to the
    turn's completed transcript."""
    headers = {"Authorization": f"Bearer {key}"} | (BETA_HEADERS if beta else {})
    events: list[dict[str, Any]] = []

    async def until(socket: Any, kind: str) -> dict[str, Any]:
        while True:
            event: dict[str, Any] = json.loads(
                await asyncio.wait_for(socket.recv(), timeout=TIMEOUT)
            )
            events.append(event)
            if event["type"] == kind:
                return event

    async with websockets.connect(url, additional_headers=headers) as socket:
        created = "transcription_session.created" if beta else "session.created"
        await until(socket, created)
        transcription = {"model": model, "language": "en"} if model else {"language": "en"}
        detection = {"type": "server_vad", "silence_duration_ms": 500}
        if beta:
            update = {
                "type": "transcription_session.update",
                "session": {
                    "input_audio_transcription": transcription,
                    "turn_detection": detection,
                },
            }
        else:
            update = {
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {
                        "input": {
                            "format": {"type": "audio/pcm", "rate": 24000},
                            "transcription": transcription,
                            "turn_detection": detection,
                        }
                    },
                },
            }
        await socket.send(json.dumps(update))
        await until(socket, "transcription_session.updated" if beta else "session.updated")
        for start in range(0, len(pcm) + 2 * 48_000, CHUNK):
            chunk = (pcm + bytes(2 * 48_000))[start : start + CHUNK]
            await socket.send(
                json.dumps(
                    {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
                )
            )
        await until(socket, "conversation.item.input_audio_transcription.completed")
    return events


def judged(events: list[dict[str, Any]], beta: bool) -> None:
    for event in events:
        if beta and event["type"].startswith("transcription_session."):
            # The beta union has no greeting for a transcription session, and its session
            # type demands a client_secret (which OpenAI leaves out over the socket) and one of
            # OpenAI's three model names: read by hand instead.
            session = event["session"]
            assert session["object"] == "realtime.transcription_session"
            assert session["input_audio_transcription"]["model"]
            continue
        (BETA if beta else GA).validate_python(event)


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_local_session_hears_interim_and_final_text(
    served: tuple[RunningGateway, RunningSimulator], speech: bytes, beta: bool
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"stt-{secrets.token_hex(4)}", "1.00")
    url = address(gateway, "intent=transcription")
    events = asyncio.run(session_events(url, key, speech, beta=beta, model="local-whisper-tiny-en"))
    judged(events, beta)
    kinds = [e["type"] for e in events]
    started = kinds.index("input_audio_buffer.speech_started")
    stopped = kinds.index("input_audio_buffer.speech_stopped")
    committed = kinds.index("input_audio_buffer.committed")
    deltas = [i for i, k in enumerate(kinds) if k.endswith("input_audio_transcription.delta")]
    assert deltas and started < deltas[0], kinds
    assert (
        stopped < committed < kinds.index("conversation.item.input_audio_transcription.completed")
    )
    completed = events[-1]
    assert word_error_rate(SENTENCE, completed["transcript"]) < 0.35, completed["transcript"]
    interim = "".join(events[i]["delta"] for i in deltas)
    # Heard from the first part of the sentence only: some of its words.
    assert set(re.findall(r"[a-z]+", interim.lower())) & set(SENTENCE.lower().split()), interim
    seconds = completed["usage"]["seconds"]
    assert 0 < seconds < len(speech) / 48_000 + 2.0
    if not beta:
        # The URL named no model: the access line names the one the settings chose.
        line = access_line(gateway, "method=WEBSOCKET", "model=local-whisper-tiny-en")
        assert "route=local/" in line and "close_code=" in line, line


def access_line(gateway: RunningGateway, *parts: str) -> str:
    """The first whole realtime access line (a session's: it has a close code) with `parts`,
    once the session has written it."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        for line in whole_lines(gateway.output):
            if "close_code=" in line and all(part in line for part in parts):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no access line with {parts}")


def test_local_session_is_charged_per_minute_at_the_transcription_row(
    served: tuple[RunningGateway, RunningSimulator], speech: bytes
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"stt-money-{secrets.token_hex(4)}", "1.00")
    url = address(gateway, "intent=transcription&model=local-whisper-tiny-en")
    events = asyncio.run(session_events(url, key, speech, beta=False, model=None))
    seconds = events[-1]["usage"]["seconds"]
    with gateway.client(key) as client:
        usage = client.get("/api/v1/usage", params={"limit": 200}).json()["data"]
    charges = [
        u
        for u in usage
        if u.get("model") == "local-whisper-tiny-en" and u.get("task") == "realtime"
    ]
    assert charges, usage[:5]
    heard_ms = sum(int(u.get("audio_milliseconds") or 0) for u in charges)
    assert abs(heard_ms - seconds * 1000) <= 5, (heard_ms, seconds)


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_relayed_session_reaches_the_simulator(
    served: tuple[RunningGateway, RunningSimulator], speech: bytes, beta: bool
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"stt-relay-{secrets.token_hex(4)}", "1.00")
    url = address(gateway, "intent=transcription")
    events = asyncio.run(
        session_events(url, key, speech, beta=beta, model="gpt-4o-mini-transcribe")
    )
    judged(events, beta)
    kinds = [e["type"] for e in events]
    # One greeting and one answer: the provider's own stay upstream.
    prefix = "transcription_session" if beta else "session"
    assert kinds.count(f"{prefix}.created") == 1, kinds
    assert kinds.count(f"{prefix}.updated") == 1, kinds
    assert events[-1]["transcript"] == FAST_TRANSCRIPT
    assert any(k.endswith("input_audio_transcription.delta") for k in kinds), kinds
    # Charged at the row the alias names (whisper-1), for the duration the provider reported.
    with gateway.client(key) as client:
        usage = client.get("/api/v1/usage", params={"limit": 200}).json()["data"]
    charged = [u for u in usage if u.get("model") == "whisper-1" and u.get("audio_milliseconds")]
    heard_ms = sum(int(u["audio_milliseconds"]) for u in charged)
    assert heard_ms == round(events[-1]["usage"]["seconds"] * 1000), (heard_ms, usage[:3])


# An unknown model, and one a session served here cannot switch to (it is relayed).
@pytest.mark.parametrize("model", ["no-such-model", "gpt-4o-mini-transcribe"])
def test_a_model_the_session_cannot_switch_to_is_refused_by_name(
    served: tuple[RunningGateway, RunningSimulator], model: str
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"stt-bad-{secrets.token_hex(4)}", "1.00")

    async def refused() -> dict[str, Any]:
        url = address(gateway, "intent=transcription&model=local-whisper-tiny-en")
        headers = {"Authorization": f"Bearer {key}"}
        async with websockets.connect(url, additional_headers=headers) as socket:
            await socket.recv()
            # The first settings choose where the session runs (here); the next switch.
            for named in ("local-whisper-tiny-en", model):
                session = {
                    "type": "transcription",
                    "audio": {"input": {"transcription": {"model": named}}},
                }
                await socket.send(json.dumps({"type": "session.update", "session": session}))
                answer = json.loads(await asyncio.wait_for(socket.recv(), timeout=TIMEOUT))
            return dict(answer)

    error = asyncio.run(refused())
    GA.validate_python(error)
    assert error["type"] == "error"
    assert error["error"]["param"] == "session.audio.input.transcription.model"


def test_minted_transcription_secrets(served: tuple[RunningGateway, RunningSimulator]) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"stt-mint-{secrets.token_hex(4)}", "1.00")
    with gateway.client(key) as client:
        beta = client.post(
            "/v1/realtime/transcription_sessions",
            json={"input_audio_transcription": {"model": "local-whisper-tiny-en"}},
        )
        ga = client.post(
            "/v1/realtime/client_secrets",
            json={
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"transcription": {"model": "local-whisper-tiny-en"}}},
                }
            },
        )
        bad = client.post(
            "/v1/realtime/transcription_sessions", json={"input_audio_transcription": {"model": 3}}
        )
    assert beta.status_code == 200, beta.text
    assert beta.json()["client_secret"]["value"].startswith("ek_")
    assert ga.status_code == 200, ga.text
    assert bad.status_code == 400 and bad.json()["error"]["param"], bad.text

    async def greeted(secret: str) -> dict[str, Any]:
        url = address(gateway, "intent=transcription")
        headers = {"Authorization": f"Bearer {secret}"}
        async with websockets.connect(url, additional_headers=headers) as socket:
            return dict(json.loads(await asyncio.wait_for(socket.recv(), timeout=TIMEOUT)))

    created = asyncio.run(greeted(ga.json()["value"]))
    GA.validate_python(created)
    assert created["session"]["type"] == "transcription"
    model = created["session"]["audio"]["input"]["transcription"]["model"]
    assert model == "local-whisper-tiny-en"
