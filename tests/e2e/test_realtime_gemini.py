"""Gemini Live as a realtime route (issues 26 and 27), against the real gateway and the
provider simulator over sockets: the official openai-python realtime client holds spoken
turns on `gemini-live-2.5-flash`, which the gateway translates to Gemini Live and back; each
answer is charged at the Gemini row's prices from the usage the simulator reported; Gemini's
`goAway` moves the session to a resumed connection unseen; and a Gemini session that drops
moves to OpenAI with its conversation."""

import asyncio
import base64
import json
import shutil
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.e2e.test_realtime import question_pcm
from tests.e2e.test_realtime_money import SECOND, append, settled, until, usage
from tests.e2e.test_realtime_unpaid import connect
from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator, routed_gateway
from voxgate.settings import PACKAGE_DIR

MODEL = "gemini-live-2.5-flash"
ROW = PACKAGE_DIR / "catalog" / "models" / f"{MODEL}.yaml"
TIMEOUT = 60
HEARD = "This is the simulator's transcript."
QUESTION = "What is the tallest mountain?"


def with_openai_after_gemini(root: Path) -> Path:
    """The package catalog with the Gemini Live row's route followed by OpenAI's (and only
    OpenAI's voice names, which both routes speak)."""
    catalog = root / "catalog"
    shutil.copytree(PACKAGE_DIR / "catalog", catalog)
    row = yaml.safe_load(ROW.read_text())
    voices = [v for v in row["voices"] if v.islower()]
    for field in row["fields"]:
        if field["name"] == "voice":
            field["accepted"] = voices
    row |= {
        "voices": voices,
        "default_voice": "coral",
        "example": row["example"] | {"voice": "coral"},
    }
    openai_route = {
        "provider": "openai",
        "upstream_model": "gpt-realtime",
        "credentials": [
            {"name": "openai", "api_key_env": "OPENAI_API_KEY", "base_url_env": "OPENAI_BASE_URL"}
        ],
    }
    path = catalog / "models" / ROW.name
    path.write_text(yaml.safe_dump(row | {"routes": [*row["routes"], openai_route]}))
    return catalog


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = tmp_path_factory.mktemp("rt-gemini")
    settings = {"VOXGATE_CATALOG_DIR": str(with_openai_after_gemini(root))}
    with routed_gateway(root, fast=True, **settings) as served:
        yield served


def sessions(sim: RunningSimulator) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{sim.base_url}/_sim/realtime").json()["sessions"]
    return found


def live_sessions(sim: RunningSimulator) -> list[dict[str, Any]]:
    return [s for s in sessions(sim) if s.get("credential") == SIM_KEYS["gemini"]]


async def _until_done(connection: Any, seen: list[Any]) -> Any:
    async for event in connection:
        seen.append(event)
        if event.type == "response.done":
            return event
    raise AssertionError("the socket closed before the answer was done")


async def spoken_turns(gateway: RunningGateway, key: str, *, manual: bool = True) -> list[Any]:
    """Two spoken turns on one socket (committed and asked for with manual turns, else
    committed to Gemini's own detector), then a typed one; every event the client saw."""
    client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key)
    seen: list[Any] = []
    async with client.realtime.connect(model=MODEL) as connection:
        if manual:
            session = {
                "type": "realtime",
                "instructions": "Answer in one short sentence.",
                "audio": {"input": {"turn_detection": None}, "output": {"voice": "coral"}},
            }
            await connection.session.update(session=session)  # type: ignore[arg-type]
        for _ in range(2):
            await connection.input_audio_buffer.append(audio=base64.b64encode(SECOND).decode())
            await connection.input_audio_buffer.commit()
            if manual:
                await connection.response.create()
            while (await _until_done(connection, seen)).response.status != "completed":
                pass  # an answer the move cut short is re-created
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": QUESTION}],
            }
        )
        await connection.response.create()
        while (await _until_done(connection, seen)).response.status != "completed":
            pass
    return seen


def talk(gateway: RunningGateway, key: str, *, manual: bool = True) -> list[Any]:
    return asyncio.run(asyncio.wait_for(spoken_turns(gateway, key, manual=manual), TIMEOUT))


def expected_charge(reported: dict[str, Any]) -> int:
    """The Gemini row's prices (per 1M tokens, so micro-dollars per token) applied to one
    usageMetadata as the simulator reported it, rounded half up."""
    prices = {k: Decimal(v) for k, v in yaml.safe_load(ROW.read_text())["pricing"].items()}

    def tokens(details: str, modality: str) -> int:
        return sum(d["tokenCount"] for d in reported[details] if d["modality"] == modality)

    exact = (
        tokens("promptTokensDetails", "TEXT") * prices["text_input_per_1m_tokens"]
        + tokens("promptTokensDetails", "AUDIO") * prices["audio_input_per_1m_tokens"]
        + tokens("responseTokensDetails", "TEXT") * prices["text_output_per_1m_tokens"]
        + tokens("responseTokensDetails", "AUDIO") * prices["audio_output_per_1m_tokens"]
    )
    return int((exact + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR"))


def assert_charged_as_reported(gateway: RunningGateway, sim: RunningSimulator, key: str) -> None:
    """Once settled, each answer was charged what Gemini reported for it at the row's prices,
    within its hold."""
    settled(gateway, key)
    reported = [u for s in live_sessions(sim) for u in s.get("usage", [])]
    records = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    assert sorted(r["cost_micro_usd"] for r in records) == sorted(map(expected_charge, reported))
    for record in records:
        assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]


def test_two_spoken_turns_on_gemini_live_charged_at_the_gemini_row(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    key = gateway.new_workspace("rt-gemini", "1.00")

    seen = talk(gateway, key)

    assert not [e for e in seen if e.type == "error"], "no error reaches the client"
    done = [e for e in seen if e.type == "response.done"]
    assert [d.response.status for d in done] == ["completed"] * 3
    # Gemini's 24 kHz answers reach the client as OpenAI audio deltas: the simulator's one
    # second of speech per spoken answer.
    for answer in done:
        audio = b"".join(
            base64.b64decode(e.delta)
            for e in seen
            if e.type == "response.output_audio.delta" and e.response_id == answer.response.id
        )
        assert len(audio) == 24_000 * 2
    heard = [e.transcript for e in seen if e.type.endswith("input_audio_transcription.completed")]
    assert heard == [HEARD, HEARD]
    said = [e.transcript for e in seen if e.type == "response.output_audio_transcript.done"]
    assert said == [f"The simulator heard: {HEARD}"] * 2 + [f"The simulator heard: {QUESTION}"]
    # Gemini was set up as the client asked: the session's instructions, the OpenAI voice as
    # its nearest Gemini voice, manual turns, and the row's upstream model.
    connections = live_sessions(sim)
    setup = connections[-1]["setup"]
    assert setup["model"] == "models/gemini-2.5-flash-native-audio-preview-09-2025"
    assert setup["systemInstruction"] == {"parts": [{"text": "Answer in one short sentence."}]}
    voice = setup["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]
    assert voice == {"voiceName": "Achird"}
    assert setup["realtimeInputConfig"]["automaticActivityDetection"] == {"disabled": True}
    # Each answer is charged at the Gemini row from the usage Gemini reported for it.
    settled(gateway, key)
    reported = [u for connection in connections for u in connection.get("usage", [])]
    records = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    assert len(reported) == 3
    assert sorted(r["cost_micro_usd"] for r in records) == sorted(map(expected_charge, reported))
    for record in records:
        assert record["charged_micro_usd"] == record["cost_micro_usd"], record
        assert (record["model"], record["provider"]) == (MODEL, "gemini")


def test_gemini_go_away_resumes_the_session_unseen(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    # goAway at the first pause after the first spoken answer (setup, handle, transcript).
    sim.queue_faults(SIM_KEYS["gemini"], {"kind": "go_away", "after_events": 3})
    key = gateway.new_workspace("rt-gemini-go-away", "1.00")

    seen = talk(gateway, key, manual=False)

    assert not [e for e in seen if e.type in ("error", "voxgate.session.moved")]
    done = [e for e in seen if e.type == "response.done"]
    assert [d.response.status for d in done] == ["completed"] * 3
    first, resumed = live_sessions(sim)
    assert "goAway" in first["sent"]
    assert resumed["resumed"] == first["handles"][-1]
    assert len(first["usage"]) == 1 and len(resumed["usage"]) == 2


def test_a_dropped_gemini_session_moves_to_openai_with_its_conversation(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    # The Gemini connection drops during the second spoken answer: after setupComplete and
    # a handle, the first turn's 9 messages (its transcript, five 200 ms chunks of audio,
    # generationComplete, turnComplete, a handle), and the second's transcript and first chunk.
    sim.queue_faults(SIM_KEYS["gemini"], {"kind": "drop", "after_events": 13})
    key = gateway.new_workspace("rt-gemini-drop", "1.00")

    seen = talk(gateway, key, manual=False)

    [moved] = [e for e in seen if e.type == "voxgate.session.moved"]
    assert moved.model_extra["from"]["provider"] == "gemini"
    assert moved.model_extra["to"]["provider"] == "openai"
    assert not [e for e in seen if e.type == "error"], "no error reaches the client"
    assert seen[-1].response.status == "completed"
    # OpenAI was given the session so far: the Gemini turns carried as their transcripts.
    [on_openai] = [s for s in sessions(sim) if s.get("credential") == SIM_KEYS["primary"]]
    read = [(m["role"], m["content"]) for m in on_openai["answers"][-1]["messages"]]
    assert ("user", HEARD) in read
    assert ("assistant", f"The simulator heard: {HEARD}") in read
    assert read[-1] == ("user", QUESTION)
    settled(gateway, key)
    records = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    for record in records:
        assert record["charged_micro_usd"] == record["cost_micro_usd"], record
    assert {r["provider"] for r in records} == {"gemini", "openai"}, records


async def tool_round(gateway: RunningGateway, key: str) -> list[Any]:
    """A typed question that calls the session's function, its output, and the answer."""
    client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key)
    seen: list[Any] = []
    weather = {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    async with client.realtime.connect(model=MODEL) as connection:
        session = {"type": "realtime", "tools": [weather]}
        await connection.session.update(session=session)  # type: ignore[arg-type]
        text = {"type": "input_text", "text": "Please call get_weather for Paris."}
        await connection.conversation.item.create(
            item={"type": "message", "role": "user", "content": [text]}
        )
        await connection.response.create()
        called = await _until_done(connection, seen)
        [call] = called.response.output
        await connection.conversation.item.create(
            item={
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": '{"sky":"clear"}',
            }
        )
        await connection.response.create()
        await _until_done(connection, seen)
    return seen


def test_a_function_call_on_gemini_live(served: tuple[RunningGateway, RunningSimulator]) -> None:
    gateway, sim = served
    sim.reset()
    key = gateway.new_workspace("rt-gemini-tools", "1.00")

    seen = asyncio.run(asyncio.wait_for(tool_round(gateway, key), TIMEOUT))

    called, answered = [e for e in seen if e.type == "response.done"]
    [call] = called.response.output
    assert (call.type, call.name) == ("function_call", "get_weather")
    said = [e.transcript for e in seen if e.type == "response.output_audio_transcript.done"]
    assert said == ['The simulator heard: The tool said [{"output":{"sky":"clear"}}]']
    assert answered.response.status == "completed"
    [declared] = live_sessions(sim)[-1]["setup"]["tools"][0]["functionDeclarations"]
    assert declared["name"] == "get_weather"
    settled(gateway, key)
    records = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    assert len(records) == 2
    for record in records:
        assert record["charged_micro_usd"] == record["cost_micro_usd"], record


async def beta_turn(gateway: RunningGateway, key: str) -> list[Any]:
    """One spoken turn from openai-python's beta realtime client (`OpenAI-Beta: realtime=v1`),
    which is pointed at a plain `ws:` gateway by its websocket_base_url."""
    websocket = "ws" + gateway.base_url.removeprefix("http") + "/v1"
    client = openai.AsyncOpenAI(
        base_url=f"{gateway.base_url}/v1", api_key=key, websocket_base_url=websocket
    )
    seen: list[Any] = []
    async with client.beta.realtime.connect(model=MODEL) as connection:
        await connection.session.update(session={"turn_detection": None, "voice": "coral"})
        await connection.input_audio_buffer.append(audio=base64.b64encode(SECOND).decode())
        await connection.input_audio_buffer.commit()
        await connection.response.create()
        await _until_done(connection, seen)
    return seen


def test_a_beta_client_is_answered_in_beta_names(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    key = gateway.new_workspace("rt-gemini-beta", "1.00")

    seen = asyncio.run(asyncio.wait_for(beta_turn(gateway, key), TIMEOUT))

    types = {e.type for e in seen}
    assert {"response.audio.delta", "conversation.item.created"} <= types
    assert not types & {"response.output_audio.delta", "conversation.item.added", "error"}
    audio = b"".join(base64.b64decode(e.delta) for e in seen if e.type == "response.audio.delta")
    assert len(audio) == 24_000 * 2
    [said] = [e.transcript for e in seen if e.type == "response.audio_transcript.done"]
    assert said == f"The simulator heard: {HEARD}"
    [updated] = [e for e in seen if e.type == "session.updated"]
    assert updated.session.turn_detection is None
    assert updated.session.voice == "Achird"


async def barge_in(gateway: RunningGateway, key: str) -> list[Any]:
    """A spoken turn whose answer the user speaks over (a new turn committed once its first
    audio arrived), then that turn answered."""
    client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key)
    seen: list[Any] = []
    async with client.realtime.connect(model=MODEL) as connection:
        manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        await connection.session.update(session=manual)  # type: ignore[arg-type]
        await connection.input_audio_buffer.append(audio=base64.b64encode(SECOND).decode())
        await connection.input_audio_buffer.commit()
        await connection.response.create()
        async for event in connection:
            seen.append(event)
            if event.type == "response.output_audio.delta":
                break
        await connection.input_audio_buffer.append(audio=base64.b64encode(SECOND).decode())
        await connection.input_audio_buffer.commit()
        await _until_done(connection, seen)
        await connection.response.create()
        await _until_done(connection, seen)
    return seen


def test_speaking_over_a_gemini_answer_cancels_it_and_charges_what_was_made(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    key = gateway.new_workspace("rt-gemini-barge-in", "1.00")
    # The one Gemini connection (manual turns change no setup) speaks slowly.
    sim.queue_faults(SIM_KEYS["gemini"], {"kind": "paced", "chunk_interval_ms": 300})

    seen = asyncio.run(asyncio.wait_for(barge_in(gateway, key), TIMEOUT))

    cut, answered = [e.response for e in seen if e.type == "response.done"]
    assert (cut.status, cut.status_details.reason) == ("cancelled", "turn_detected")
    assert answered.status == "completed"
    assert not [e for e in seen if e.type == "error"]
    assert_charged_as_reported(gateway, sim, key)


async def spoken_then_typed(gateway: RunningGateway, key: str) -> list[Any]:
    """One spoken turn to Gemini's own detector, then a typed one asked for."""
    client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key)
    seen: list[Any] = []
    async with client.realtime.connect(model=MODEL) as connection:
        await connection.input_audio_buffer.append(audio=base64.b64encode(SECOND).decode())
        await connection.input_audio_buffer.commit()
        await _until_done(connection, seen)
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": QUESTION}],
            }
        )
        await connection.response.create()
        while (await _until_done(connection, seen)).response.status != "completed":
            pass  # asked for before the move: re-created on the next route
    return seen


def test_a_gemini_session_that_cannot_be_resumed_moves_to_openai(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    # goAway after the first answer, and the connection that would resume it is refused.
    go_away = {"kind": "go_away", "after_events": 3}
    sim.queue_faults(SIM_KEYS["gemini"], go_away, {"kind": "503"})
    key = gateway.new_workspace("rt-gemini-unresumed", "1.00")

    seen = asyncio.run(asyncio.wait_for(spoken_then_typed(gateway, key), TIMEOUT))

    [moved] = [e for e in seen if e.type == "voxgate.session.moved"]
    assert (moved.reason, moved.model_extra["to"]["provider"]) == ("upstream_closed", "openai")
    assert seen[-1].response.status == "completed"
    assert not [e for e in seen if e.type == "error"]
    [on_openai] = [s for s in sessions(sim) if s.get("credential") == SIM_KEYS["primary"]]
    read = [(m["role"], m["content"]) for m in on_openai["answers"][-1]["messages"]]
    assert read[-1] == ("user", QUESTION)
    assert ("user", HEARD) in read


async def capped_then_free(gateway: RunningGateway, key: str, cap: int) -> list[Any]:
    """A spoken turn asked for with an output cap, then one asked for without."""
    client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key)
    seen: list[Any] = []
    async with client.realtime.connect(model=MODEL) as connection:
        manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        await connection.session.update(session=manual)  # type: ignore[arg-type]
        for response in ({"max_output_tokens": cap}, {}):
            await connection.input_audio_buffer.append(audio=base64.b64encode(SECOND).decode())
            await connection.input_audio_buffer.commit()
            await connection.response.create(response=response)  # type: ignore[arg-type]
            await _until_done(connection, seen)
    return seen


def test_a_long_gemini_answer_stops_at_its_cap_and_is_charged_no_more(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    key = gateway.new_workspace("rt-gemini-capped", "1.00")
    # The one Gemini connection (manual turns change no setup) answers long.
    sim.queue_faults(SIM_KEYS["gemini"], {"kind": "long"})
    cap = 20

    seen = asyncio.run(asyncio.wait_for(capped_then_free(gateway, key, cap), TIMEOUT))

    dones = [e for e in seen if e.type == "response.done"]
    assert not [e for e in dones if "voxgate_provider_usage" in (e.model_extra or {})]
    cut, answered = [e.response for e in dones]
    assert (cut.status, cut.status_details.reason) == ("incomplete", "max_output_tokens")
    assert cut.usage.output_tokens == cut.usage.output_token_details.audio_tokens == cap
    assert answered.status == "completed"  # the session goes on
    assert not [e for e in seen if e.type == "error"]
    # What reached the client is the cap's worth of audio: 32 tokens a second of 24 kHz PCM16.
    cut_audio = b"".join(
        base64.b64decode(e.delta)
        for e in seen
        if e.type == "response.output_audio.delta" and e.response_id == cut.id
    )
    assert len(cut_audio) == cap * 24_000 * 2 // 32
    [transcript] = [
        e.transcript
        for e in seen
        if e.type == "response.output_audio_transcript.done" and e.response_id == cut.id
    ]
    said = [e for e in seen if e.type == "response.output_audio_transcript.done"]
    assert len(transcript) < len(said[-1].transcript)

    settled(gateway, key)
    [live] = [s for s in live_sessions(sim) if s.get("usage")]
    made = live["usage"][0]["responseTokensDetails"][0]["tokenCount"]
    assert made > cap  # Gemini made more than the cap before it stopped
    records = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    [capped] = [r for r in records if r["provider_overrun"]]
    assert capped["output_audio_tokens"] == cap
    assert capped["charged_micro_usd"] == capped["cost_micro_usd"] <= capped["hold_micro_usd"]
    for record in records:
        assert record["charged_micro_usd"] == record["cost_micro_usd"], record


async def one_capped_turn(gateway: RunningGateway, key: str) -> list[Any]:
    """One spoken turn asked for, the session open until its answer is done."""
    client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key)
    seen: list[Any] = []
    async with client.realtime.connect(model=MODEL) as connection:
        manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        await connection.session.update(session=manual)  # type: ignore[arg-type]
        await connection.input_audio_buffer.append(audio=base64.b64encode(SECOND).decode())
        await connection.input_audio_buffer.commit()
        await connection.response.create()
        await _until_done(connection, seen)
    return seen


def test_a_long_gemini_answer_stops_where_the_credit_does(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    # One hold step of credit ($0.01): about 800 output tokens at $12 per 1M, 25 s of audio;
    # the answer runs 40 s.
    key = gateway.new_workspace("rt-gemini-poor", "0.010")
    sim.queue_faults(SIM_KEYS["gemini"], {"kind": "long"})

    seen = asyncio.run(asyncio.wait_for(one_capped_turn(gateway, key), TIMEOUT))

    [cut] = [e.response for e in seen if e.type == "response.done"]
    assert (cut.status, cut.status_details.reason) == ("incomplete", "max_output_tokens")
    after = settled(gateway, key)
    assert after["held_micro_usd"] == 0 and after["balance_micro_usd"] >= 0
    [live] = [s for s in live_sessions(sim) if s.get("usage")]
    made = live["usage"][0]["responseTokensDetails"][0]["tokenCount"]
    [record] = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    assert record["output_audio_tokens"] == cut.usage.output_token_details.audio_tokens < made
    assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]
    assert record["provider_overrun"]


async def detected_turn(
    gateway: RunningGateway, key: str, instructions: str
) -> list[dict[str, Any]]:
    """A spoken question that the server's detector ends (the default: answer each turn), on
    Gemini Live: every event until its response is done, or refused."""
    pcm = question_pcm(gateway, gateway.key) + bytes(48_000)  # then a second of silence
    events: list[dict[str, Any]] = []
    async with connect(gateway, key, MODEL) as socket:
        await until(socket, "session.created")
        update = {"type": "session.update", "session": {"instructions": instructions}}
        await socket.send(json.dumps(update))
        await until(socket, "session.updated")
        for start in range(0, len(pcm), 9600):
            await append(socket, pcm[start : start + 9600])
        while not events or events[-1]["type"] not in ("response.done", "error"):
            events.append(json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT)))
    return events


def test_an_answer_to_a_detected_turn_is_held_and_capped_before_gemini_starts_it(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    key = gateway.new_workspace("rt-gemini-vad", "0.02")

    events = asyncio.run(detected_turn(gateway, key, "Answer briefly."))

    kinds = [event["type"] for event in events]
    assert kinds.index("input_audio_buffer.speech_stopped") < kinds.index("response.created")
    [created] = [event for event in events if event["type"] == "response.created"]
    assert isinstance(created["response"]["max_output_tokens"], int)
    assert events[-1]["response"]["status"] == "completed"
    [live] = [s for s in live_sessions(sim) if s.get("usage")]
    assert live["setup"]["realtimeInputConfig"]["automaticActivityDetection"] == {"disabled": True}
    after = settled(gateway, key)
    assert after["held_micro_usd"] == 0
    [record] = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]


def test_gemini_never_answers_a_detected_turn_the_credit_cannot_hold(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    key = gateway.new_workspace("rt-gemini-vad-dear", "0.02")

    events = asyncio.run(detected_turn(gateway, key, "word " * 1_000_000))

    kinds = [event["type"] for event in events]
    assert "input_audio_buffer.speech_stopped" in kinds
    assert events[-1]["type"] == "error"
    assert events[-1]["error"]["code"] == "insufficient_credit"
    assert "response.created" not in kinds
    # Gemini was never asked to answer, and said nothing: no turn ended by its own detector.
    for connection in live_sessions(sim):
        assert "serverContent" not in connection["sent"], connection["sent"]
        assert not connection.get("usage")
    assert settled(gateway, key)["held_micro_usd"] == 0
    assert sum(r["charged_micro_usd"] or 0 for r in usage(gateway, key)) == 0


async def spoken_over(gateway: RunningGateway, key: str) -> list[dict[str, Any]]:
    """A spoken question the detector ends, then the same question spoken over its answer
    once the answer's first audio came: every event until the second answer is done."""
    pcm = question_pcm(gateway, gateway.key) + bytes(48_000)
    events: list[dict[str, Any]] = []
    async with connect(gateway, key, MODEL) as socket:
        await until(socket, "session.created")
        for _ in range(2):
            for start in range(0, len(pcm), 9600):
                await append(socket, pcm[start : start + 9600])
            while not events or events[-1]["type"] != "response.output_audio.delta":
                events.append(json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT)))
        while [e["type"] for e in events].count("response.done") < 2:
            events.append(json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT)))
    return events


def test_speech_over_a_gemini_answer_to_a_detected_turn_cancels_it(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    # The answer is spoken slowly enough (a 200 ms chunk each 500 ms) to be spoken over.
    sim.queue_faults(SIM_KEYS["gemini"], {"kind": "paced", "chunk_interval_ms": 500})
    key = gateway.new_workspace("rt-gemini-vad-barge-in", "1.00")

    events = asyncio.run(spoken_over(gateway, key))

    cut, answered = [e["response"] for e in events if e["type"] == "response.done"]
    assert (cut["status"], cut["status_details"]["reason"]) == ("cancelled", "turn_detected")
    assert answered["status"] == "completed"
    kinds = [e["type"] for e in events]
    assert kinds.count("input_audio_buffer.speech_started") == 2
    assert not [e for e in events if e["type"] == "error"]
    assert_charged_as_reported(gateway, sim, key)


async def spoken_over_uninterrupted(gateway: RunningGateway, key: str) -> list[dict[str, Any]]:
    """As `spoken_over`, with `interrupt_response: false` and each answer asked for by the
    client (`create_response: false`), the second once the first is done."""
    pcm = question_pcm(gateway, gateway.key) + bytes(48_000)
    detection = {"type": "server_vad", "interrupt_response": False, "create_response": False}
    session = {"type": "realtime", "audio": {"input": {"turn_detection": detection}}}
    events: list[dict[str, Any]] = []

    async def read_until(done: Callable[[list[str]], bool]) -> None:
        while not done([e["type"] for e in events]):
            events.append(json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT)))

    async with connect(gateway, key, MODEL) as socket:
        await until(socket, "session.created")
        await socket.send(json.dumps({"type": "session.update", "session": session}))
        await until(socket, "session.updated")
        for answers in (1, 2):
            for start in range(0, len(pcm), 9600):
                await append(socket, pcm[start : start + 9600])
            await read_until(lambda kinds: kinds.count("input_audio_buffer.committed") == answers)
            await read_until(lambda kinds: kinds.count("response.done") == answers - 1)
            await socket.send(json.dumps({"type": "response.create"}))
            await read_until(lambda kinds: kinds[-1] == "response.output_audio.delta")
        await read_until(lambda kinds: kinds.count("response.done") == 2)
    return events


def test_speech_over_a_gemini_answer_leaves_it_alone_without_interrupt_response(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    sim.reset()
    # Slowly spoken answers on both connections: the one opened, and the one the update's new
    # setup resumes on.
    paced = {"kind": "paced", "chunk_interval_ms": 500}
    sim.queue_faults(SIM_KEYS["gemini"], paced, paced)
    key = gateway.new_workspace("rt-gemini-vad-no-barge-in", "1.00")

    events = asyncio.run(spoken_over_uninterrupted(gateway, key))

    kinds = [e["type"] for e in events]
    first_done = kinds.index("response.done")
    # The second question was heard while the first answer was still being spoken.
    assert [i for i, k in enumerate(kinds) if k == "input_audio_buffer.speech_started"][1] < (
        first_done
    )
    done = [e["response"] for e in events if e["type"] == "response.done"]
    assert [response["status"] for response in done] == ["completed", "completed"]
    assert not [e for e in events if e["type"] == "error"]
    setups = [s["setup"]["realtimeInputConfig"] for s in live_sessions(sim) if s.get("usage")]
    assert setups == [
        {"automaticActivityDetection": {"disabled": True}, "activityHandling": "NO_INTERRUPTION"}
    ]
    assert_charged_as_reported(gateway, sim, key)
