"""The realtime protocol, judged by the official `openai` package's server-event unions: a
scripted session on the local cascade and through the relay, in the GA and the beta dialect."""

import asyncio
import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import RealtimeServerEvent as GAServerEvent
from pydantic import TypeAdapter

from tests.audio_probe import word_error_rate
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway
from voxgate.simulator.engine import FAST_TRANSCRIPT

# The SDK's unions are Annotated discriminated unions, which mypy cannot take as a type here.
GA: TypeAdapter[Any] = TypeAdapter(GAServerEvent)  # type: ignore[arg-type]
BETA: TypeAdapter[Any] = TypeAdapter(BetaServerEvent)  # type: ignore[arg-type]
BETA_HEADERS = {"OpenAI-Beta": "realtime=v1"}
TIMEOUT = 60


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(tmp_path_factory.mktemp("rt-protocol")) as served:
        yield served


def url(gateway: RunningGateway, model: str) -> str:
    return "ws" + gateway.base_url.removeprefix("http") + f"/v1/realtime?model={model}"


class Script:
    """A client socket that remembers every server event, in order."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.events: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any] | str | bytes) -> None:
        await self.socket.send(event if isinstance(event, str | bytes) else json.dumps(event))

    async def until(self, *kinds: str) -> dict[str, Any]:
        while True:
            event: dict[str, Any] = json.loads(
                await asyncio.wait_for(self.socket.recv(), timeout=TIMEOUT)
            )
            self.events.append(event)
            if event["type"] in kinds:
                return event


def beta_name(name: str, beta: bool) -> str:
    renames = {
        "response.output_audio.delta": "response.audio.delta",
        "response.output_audio_transcript.done": "response.audio_transcript.done",
        "response.output_text.done": "response.text.done",
        "conversation.item.added": "conversation.item.created",
    }
    return renames.get(name, name) if beta else name


async def scripted(address: str, key: str, *, beta: bool, voice: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} | (BETA_HEADERS if beta else {})
    async with websockets.connect(address, additional_headers=headers) as socket:
        script = Script(socket)
        await script.until("session.created")
        session: dict[str, Any] = (
            {"voice": voice, "modalities": ["text", "audio"], "turn_detection": None}
            if beta
            else {
                "type": "realtime",
                "output_modalities": ["audio"],
                "audio": {"output": {"voice": voice}, "input": {"turn_detection": None}},
            }
        )
        await script.send(
            {"type": "session.update", "session": session | {"instructions": "Be brief."}}
        )
        updated = await script.until("session.updated")
        shown = (
            updated["session"]["voice"] if beta else updated["session"]["audio"]["output"]["voice"]
        )
        assert shown == voice
        # A text item, then a response to it.
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hello there."}],
        }
        await script.send({"type": "conversation.item.create", "item": item})
        added = await script.until(beta_name("conversation.item.added", beta))
        await script.send({"type": "response.create"})
        done = await script.until("response.done")
        assert done["response"]["status"] == "completed"
        # The text item leaves the conversation; an unknown one is an error.
        for item_id in (added["item"]["id"], "item_nope"):
            await script.send({"type": "conversation.item.delete", "item_id": item_id})
            await script.until("conversation.item.deleted", "error")
        # Audio committed by hand, then answered.
        tone = bytes(24_000)
        await script.send(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(tone).decode()}
        )
        await script.send({"type": "input_audio_buffer.commit"})
        await script.until("conversation.item.input_audio_transcription.completed")
        await script.send({"type": "response.create"})
        await script.until("response.done")
        # Cleared audio leaves nothing to commit.
        await script.send(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(tone).decode()}
        )
        await script.send({"type": "input_audio_buffer.clear"})
        await script.until("input_audio_buffer.cleared")
        await script.send({"type": "input_audio_buffer.commit"})
        await script.until("error")
        # Hostile and unknown events: an error each, and the session goes on.
        for bad in (
            "{not json",
            b"\x00\x01binary",
            json.dumps([1, 2]),
            json.dumps({"type": "no.such.event"}),
        ):
            await script.send(bad)
            await script.until("error")
        await script.send({"type": "response.cancel"})
        await script.until("error")
        await script.send({"type": "session.update", "session": {"instructions": "Still here."}})
        await script.until("session.updated")
        return script.events


def lifecycle(events: list[dict[str, Any]], beta: bool) -> list[str]:
    """The response's events from response.created to the first response.done, deltas folded."""
    kinds = [e["type"] for e in events]
    start = kinds.index("response.created")
    shown: list[str] = []
    for kind in kinds[start : kinds.index("response.done", start) + 1]:
        if not shown or shown[-1] != kind:
            shown.append(kind)
    return shown


EXPECTED_GA = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_audio_transcript.delta",
    "response.output_audio.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
]
EXPECTED_BETA = [
    "response.created",
    "response.output_item.added",
    "conversation.item.created",
    "response.content_part.added",
    "response.audio_transcript.delta",
    "response.audio.delta",
    "response.audio.done",
    "response.audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.done",
]


@pytest.mark.parametrize("model", ["local-realtime", "gpt-audio-1.5"])
@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_every_server_event_is_an_official_event(
    served: tuple[RunningGateway, RunningSimulator], model: str, beta: bool
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-proto-{secrets.token_hex(4)}", "1.00")
    events = asyncio.run(scripted(url(gateway, model), key, beta=beta, voice="verse"))
    oracle = BETA if beta else GA
    for event in events:
        oracle.validate_python(event)  # raises on any field or name the SDK does not know
    assert lifecycle(events, beta) == (EXPECTED_BETA if beta else EXPECTED_GA)
    deltas = [e for e in events if e["type"] == beta_name("response.output_audio.delta", beta)]
    assert deltas and all(d["item_id"] and d["output_index"] == 0 for d in deltas)
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 7 and all(e["error"]["message"] for e in errors)
    deleted = [e for e in events if e["type"] == "conversation.item.deleted"]
    assert len(deleted) == 1


def spoken(gateway: RunningGateway, key: str, text: str) -> bytes:
    with gateway.client(key) as client:
        reply = client.post(
            "/api/v1/audio", json={"model": "local-tts", "input": text, "response_format": "pcm16"}
        )
    assert reply.status_code == 200, reply.text
    return base64.b64decode(reply.json()["data"]["audio_base64"])


async def vad_turn(
    address: str, key: str, pcm: bytes, silence_ms: int
) -> tuple[list[str], list[str]]:
    """Speech, then 1 s of silence (shorter than the session's silence_duration_ms), then 2 s
    more: the kinds seen before the second stretch, and after it up to response.done."""
    async with websockets.connect(
        address, additional_headers={"Authorization": f"Bearer {key}"}
    ) as socket:
        script = Script(socket)
        await script.until("session.created")
        detection = {
            "type": "server_vad",
            "threshold": 0.5,
            "silence_duration_ms": silence_ms,
            "prefix_padding_ms": 200,
        }
        session = {"type": "realtime", "audio": {"input": {"turn_detection": detection}}}
        await script.send({"type": "session.update", "session": session})
        updated = await script.until("session.updated")
        assert (
            updated["session"]["audio"]["input"]["turn_detection"]["silence_duration_ms"]
            == silence_ms
        )
        for start in range(0, len(pcm), 4800):
            chunk = base64.b64encode(pcm[start : start + 4800]).decode()
            await script.send({"type": "input_audio_buffer.append", "audio": chunk})
        await script.send(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(48_000)).decode()}
        )
        # Events are answered in order: whatever the silence caused arrives before this.
        await script.send(
            {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}}
        )
        await script.until("session.updated")
        before = [e["type"] for e in script.events]
        script.events.clear()
        for _ in range(4):
            await script.send(
                {
                    "type": "input_audio_buffer.append",
                    "audio": base64.b64encode(bytes(24_000)).decode(),
                }
            )
        await script.until("response.done")
        return before, [e["type"] for e in script.events]


@pytest.mark.parametrize("model", ["local-realtime", "gpt-audio-1.5"])
def test_server_vad_honors_the_silence_setting(
    served: tuple[RunningGateway, RunningSimulator], model: str
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-vad-{secrets.token_hex(4)}", "1.00")
    pcm = spoken(gateway, key, "What time does the museum open tomorrow?")
    before, after = asyncio.run(vad_turn(url(gateway, model), key, pcm, silence_ms=1800))
    assert "input_audio_buffer.speech_started" in before
    assert "input_audio_buffer.speech_stopped" not in before
    assert after.index("input_audio_buffer.speech_stopped") < after.index(
        "input_audio_buffer.committed"
    )
    assert after.index("conversation.item.input_audio_transcription.completed") < after.index(
        "response.created"
    )


def test_response_options_and_speed_are_honored(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-opts-{secrets.token_hex(4)}", "1.00")

    async def exchange() -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {key}"}
        async with websockets.connect(
            url(gateway, "local-realtime"), additional_headers=headers
        ) as socket:
            script = Script(socket)
            await script.until("session.created")
            session = {
                "type": "realtime",
                "audio": {
                    "output": {"speed": 1.25},
                    "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}},
                },
            }
            await script.send({"type": "session.update", "session": session})
            await script.until("session.updated")
            await script.send(
                {"type": "session.update", "session": {"audio": {"output": {"speed": 9}}}}
            )
            await script.until("error")
            await script.send(
                {
                    "type": "response.create",
                    "response": {
                        "output_modalities": ["text"],
                        "metadata": {"client_event_id": "abc"},
                    },
                }
            )
            await script.until("response.done")
            await script.send({"type": "response.create", "response": {"conversation": "none"}})
            await script.until("error")
            return script.events

    events = asyncio.run(exchange())
    for event in events:
        GA.validate_python(event)
    updated = next(e for e in events if e["type"] == "session.updated")["session"]
    assert updated["audio"]["output"]["speed"] == 1.25
    assert updated["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
    errors = [e["error"]["param"] for e in events if e["type"] == "error"]
    assert errors == ["session.audio.output.speed", "response.conversation"]
    created = next(e for e in events if e["type"] == "response.created")
    assert created["response"]["metadata"] == {"client_event_id": "abc"}
    kinds = [e["type"] for e in events]
    assert "response.output_text.done" in kinds and "response.output_audio.delta" not in kinds


def test_oversize_frames_are_refused_and_other_sessions_go_on(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-big-{secrets.token_hex(4)}", "1.00")
    headers = {"Authorization": f"Bearer {key}"}
    address = url(gateway, "local-realtime")

    async def oversize() -> tuple[str, int | None, str]:
        async with (
            websockets.connect(address, additional_headers=headers, max_size=None) as other,
            websockets.connect(address, additional_headers=headers, max_size=None) as hostile,
        ):
            bystander, script = Script(other), Script(hostile)
            await bystander.until("session.created")
            await script.until("session.created")
            padding = "A" * (15 * 1024 * 1024 + 10)
            await script.send({"type": "input_audio_buffer.append", "audio": padding})
            refused = (await script.until("error"))["error"]["code"]
            await script.send("x" * (17 * 1024 * 1024))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await script.until("never")
            await bystander.send({"type": "session.update", "session": {"instructions": "ok"}})
            await bystander.until("session.updated")
            return refused, closed.value.rcvd.code if closed.value.rcvd else None, "ok"

    refused, code, bystander = asyncio.run(oversize())
    assert refused == "event_too_large"
    assert code == 1009  # message too big, closed by the server with its reason
    assert bystander == "ok"


@pytest.mark.parametrize("model", ["local-realtime", "gpt-audio-1.5"])
@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_a_unified_session_reaches_the_socket_in_either_dialect(
    served: tuple[RunningGateway, RunningSimulator], model: str, beta: bool
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-unified-{secrets.token_hex(4)}", "1.00")
    body = {
        "model": model,
        "task": "realtime",
        "input": "You are a museum guide.",
        "voice": "verse",
    }
    if model == "gpt-audio-1.5":  # the local row's fields have no response_format
        body["response_format"] = "pcm16"
    with gateway.client(key) as client:
        minted = client.post("/api/v1/audio", json=body)
    assert minted.status_code == 200, minted.text
    secret = minted.json()["data"]["client_secret"]

    async def session_shown() -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {secret}"} | (BETA_HEADERS if beta else {})
        async with websockets.connect(url(gateway, model), additional_headers=headers) as socket:
            script = Script(socket)
            # The local session starts from the minted settings; the relay sends them upstream.
            shown = await script.until("session.created", "session.updated")
            while shown["type"] != "session.updated" and model != "local-realtime":
                shown = await script.until("session.updated")
            (BETA if beta else GA).validate_python(shown)
            session: dict[str, Any] = shown["session"]
            return session

    session = asyncio.run(session_shown())
    voice = session["voice"] if beta else session["audio"]["output"]["voice"]
    assert (voice, session["instructions"]) == ("verse", "You are a museum guide.")


@pytest.mark.parametrize("model", ["local-realtime", "gpt-audio-1.5"])
def test_an_audio_item_is_heard_and_answered(
    served: tuple[RunningGateway, RunningSimulator], model: str
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-item-{secrets.token_hex(4)}", "1.00")
    question = "What time does the museum open tomorrow?"
    pcm = spoken(gateway, key, question)

    async def ask() -> str:
        headers = {"Authorization": f"Bearer {key}"}
        async with websockets.connect(url(gateway, model), additional_headers=headers) as socket:
            script = Script(socket)
            await script.until("session.created")
            audio = base64.b64encode(pcm).decode()
            item = {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_audio", "audio": audio}],
            }
            await script.send({"type": "conversation.item.create", "item": item})
            await script.until("conversation.item.added")
            await script.send({"type": "response.create"})
            done = await script.until("response.output_audio_transcript.done")
            transcript: str = done["transcript"]
            return transcript

    answer = asyncio.run(ask())
    assert answer.startswith("The simulator heard: ")
    heard = answer.removeprefix("The simulator heard: ")
    if model == "local-realtime":  # the gateway's own Whisper heard the item
        assert word_error_rate(question, heard) <= 0.2, heard
    else:  # the fast simulator's fixed transcript
        assert heard == FAST_TRANSCRIPT


def test_speech_interrupts_the_response_in_progress(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-barge-{secrets.token_hex(4)}", "1.00")
    pcm = spoken(gateway, key, "Wait, stop, I have another question.")
    # The simulator's chat repeats what it heard: a long item makes a long answer to speak.
    long_text = " ".join(["The museum has many rooms full of paintings and sculptures."] * 30)

    async def barge_in() -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {key}"}
        address = url(gateway, "local-realtime")
        async with websockets.connect(address, additional_headers=headers) as socket:
            script = Script(socket)
            await script.until("session.created")
            detection = {"type": "server_vad", "create_response": False, "interrupt_response": True}
            session = {"type": "realtime", "audio": {"input": {"turn_detection": detection}}}
            await script.send({"type": "session.update", "session": session})
            await script.until("session.updated")
            content = [{"type": "input_text", "text": long_text}]
            item = {"type": "message", "role": "user", "content": content}
            await script.send({"type": "conversation.item.create", "item": item})
            await script.send({"type": "response.create"})
            await script.until("response.output_audio.delta")
            for start in range(0, len(pcm), 4800):
                chunk = base64.b64encode(pcm[start : start + 4800]).decode()
                await script.send({"type": "input_audio_buffer.append", "audio": chunk})
            await script.until("response.done")
            return script.events

    events = asyncio.run(barge_in())
    kinds = [e["type"] for e in events]
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.done")
    done = events[-1]
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["output"][0]["status"] == "incomplete"
    for event in events:
        GA.validate_python(event)
