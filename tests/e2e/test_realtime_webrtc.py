"""Realtime over WebRTC: aiortc plays the browser. Its offer goes through the official SDK's
`client.realtime.calls.create`; it speaks a question twice into its microphone track on
`local-realtime`, hears the answers on the gateway's audio track (not as delta events), and
the call's session is charged as a WebSocket's is."""

import asyncio
import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from tests.audio_probe import probe_pcm16, word_error_rate
from tests.e2e.test_realtime import QUESTION, _wav, balance, question_pcm, settled
from tests.e2e.test_realtime_transcription import access_line
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway
from voxgate.gateway.realtime.webrtc_media import SpeakerTrack, microphone_chunks

MODEL = "local-realtime"
# After the question, silence long enough for the server's VAD to end the turn.
PAUSE = bytes(2 * 24_000 * 2)
EVENT_WAIT_SECONDS = 120
# A second of the track's audio: the call's latency is well under it.
TAIL_BYTES = 24_000 * 2


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(tmp_path_factory.mktemp("webrtc"), fast=False) as served:
        yield served


def mint(gateway: RunningGateway, key: str) -> str:
    session = {"type": "realtime", "model": MODEL, "instructions": "Be brief."}
    with gateway.client(key) as client:
        minted = client.post("/v1/realtime/client_secrets", json={"session": session})
    assert minted.status_code == 200, minted.text
    value: str = minted.json()["value"]
    return value


class Caller:
    """aiortc as a browser would use it: a microphone track, the `oai-events` data channel, and
    the answer audio recorded from the gateway's track."""

    def __init__(self) -> None:
        self.peer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.microphone = SpeakerTrack()  # plays what it is given, in real time
        self.peer.addTrack(self.microphone)
        self.channel = self.peer.createDataChannel("oai-events")
        self.opened = asyncio.Event()
        self.channel.on("open", self.opened.set)
        self.closed = asyncio.Event()
        self.channel.on("close", self.closed.set)
        self.arrived: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.channel.on("message", lambda text: self.arrived.put_nowait(json.loads(text)))
        self.events: list[dict[str, Any]] = []
        self.heard = bytearray()
        self.grew = asyncio.Event()
        self.answer_ends: list[int] = []
        self.recording: list[asyncio.Task[None]] = []
        self.peer.on("track", self._record)

    def _record(self, track: MediaStreamTrack) -> None:
        self.recording.append(asyncio.ensure_future(self._keep(track)))

    async def _keep(self, track: MediaStreamTrack) -> None:
        async for pcm in microphone_chunks(track):
            self.heard += pcm
            self.grew.set()

    async def heard_more(self, size: int) -> None:
        """Until the track has brought `size` more bytes (it sends silence between answers)."""
        wanted = len(self.heard) + size
        while len(self.heard) < wanted:
            self.grew.clear()
            await asyncio.wait_for(self.grew.wait(), EVENT_WAIT_SECONDS)

    async def next_event(self) -> dict[str, Any]:
        event = await asyncio.wait_for(self.arrived.get(), EVENT_WAIT_SECONDS)
        self.events.append(event)
        return event

    async def until(self, kind: str) -> dict[str, Any]:
        while (event := await self.next_event())["type"] != kind:
            assert event["type"] != "error", event
        return event

    async def hang_up(self) -> None:
        await self.peer.close()
        await asyncio.gather(*self.recording, return_exceptions=True)


async def call(
    base_url: str, key: str, question: bytes, turns: int, model: str = MODEL
) -> tuple[Caller, Any]:
    """Turns of conversation over one call, each asked, answered and heard to its end; then
    the call is hung up the way a server does it, with the workspace key."""
    caller = Caller()
    await caller.peer.setLocalDescription(await caller.peer.createOffer())
    server = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=key)
    secret = await server.realtime.client_secrets.create(
        session={"type": "realtime", "model": model, "instructions": "Be brief."}
    )
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=secret.value)
    created = await client.realtime.calls.with_raw_response.create(
        sdp=caller.peer.localDescription.sdp
    )
    answer = RTCSessionDescription(sdp=created.text, type="answer")
    await caller.peer.setRemoteDescription(answer)
    await asyncio.wait_for(caller.opened.wait(), EVENT_WAIT_SECONDS)
    try:
        await caller.until("session.created")
        for _ in range(turns):
            caller.microphone.play(question + PAUSE, None)
            done = await caller.until("response.done")
            assert done["response"]["status"] == "completed", done
            await caller.until("output_audio_buffer.stopped")
            # The gateway has sent the answer's last frame; let it cross the call and the
            # jitter buffer, then mark where the answer ends in what was heard.
            await caller.heard_more(TAIL_BYTES)
            caller.answer_ends.append(len(caller.heard))
        call_id = created.headers["location"].rsplit("/", 1)[1]
        await server.realtime.calls.hangup(call_id)
        await asyncio.wait_for(caller.closed.wait(), EVENT_WAIT_SECONDS)
        with pytest.raises(openai.NotFoundError):
            await server.realtime.calls.hangup(call_id)
    finally:
        await caller.hang_up()
    return caller, created


def test_a_call_over_webrtc_holds_a_two_turn_spoken_conversation(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rtc-{secrets.token_hex(4)}", "1.00")
    question = question_pcm(gateway, key)
    before = balance(gateway, key)["balance_micro_usd"]
    caller, created = asyncio.run(call(gateway.base_url, key, question, turns=2))

    assert created.status_code == 201
    assert created.headers["content-type"].startswith("application/sdp")
    assert created.headers["location"].startswith("/v1/realtime/calls/rtc_")
    kinds = [event["type"] for event in caller.events]
    # The answers' audio came on the track: never as delta events on the data channel.
    assert "response.output_audio.delta" not in kinds
    assert kinds.count("response.done") == 2 and kinds.count("output_audio_buffer.started") >= 2
    asked = [
        e["transcript"]
        for e in caller.events
        if e["type"] == "conversation.item.input_audio_transcription.completed"
    ]
    assert len(asked) == 2 and all(word_error_rate(QUESTION, said) <= 0.2 for said in asked)
    answers = [
        e["transcript"]
        for e in caller.events
        if e["type"] == "response.output_audio_transcript.done"
    ]
    wallet = settled(gateway, key)
    request_id = created.headers["x-request-id"]
    with gateway.client(key) as client:
        records = client.get("/api/v1/usage").json()["data"]
    charged = sum(
        r["cost_micro_usd"] for r in records if r["request_id"].split(".")[0] == request_id
    )
    assert charged > 0 and before - wallet["balance_micro_usd"] == charged
    # The call's session line names the call, not a WebSocket.
    line = access_line(gateway, f"request_id={request_id} ")
    assert "method=WEBRTC path=/v1/realtime/calls status=201" in line, line
    assert any(r["request_id"] == request_id and r["task"] == "realtime" for r in records)
    # What the caller heard on the track is the answers, spoken, each in its turn. (The second
    # repeats the first many times over, which Whisper tiny often hears once: each is known
    # by its first words, the first one by all of them; Whisper tiny may mishear one of them.)
    heard = bytes(caller.heard)
    first, second = heard[: caller.answer_ends[0]], heard[caller.answer_ends[0] :]
    understood = [transcribed(gateway, key, part) for part in (first, second)]
    assert word_error_rate(answers[0], understood[0]) <= 0.5, (answers, understood)
    for said, text in zip(answers, understood, strict=True):
        assert word_error_rate(opening(said), opening(text)) <= 0.5, (answers, understood)
    assert probe_pcm16(second).duration_seconds > 2


def test_a_call_on_a_relayed_model_is_bridged_to_its_upstream(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rtc-relay-{secrets.token_hex(4)}", "1.00")
    question = question_pcm(gateway, key)
    before = balance(gateway, key)["balance_micro_usd"]
    caller, created = asyncio.run(
        call(gateway.base_url, key, question, turns=1, model="gpt-audio-1.5")
    )
    kinds = [event["type"] for event in caller.events]
    assert "response.output_audio.delta" not in kinds and kinds.count("response.done") == 1
    assert probe_pcm16(bytes(caller.heard)).duration_seconds > 1
    wallet = settled(gateway, key)
    with gateway.client(key) as client:
        records = client.get("/api/v1/usage").json()["data"]
    request_id = created.headers["x-request-id"]
    charged = sum(
        r["cost_micro_usd"] for r in records if r["request_id"].split(".")[0] == request_id
    )
    assert charged > 0 and before - wallet["balance_micro_usd"] == charged


def test_a_call_that_never_connects_gives_its_hold_back_when_hung_up(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rtc-idle-{secrets.token_hex(4)}", "1.00")

    async def offer() -> str:
        caller = Caller()
        await caller.peer.setLocalDescription(await caller.peer.createOffer())
        sdp: str = caller.peer.localDescription.sdp
        await caller.peer.close()  # the answer is never taken: the call never connects
        return sdp

    with gateway.client(key) as client:
        created = client.post(
            "/v1/realtime/calls",
            files={"sdp": (None, asyncio.run(offer()), "application/sdp")},
            data={"session": json.dumps({"type": "realtime", "model": MODEL})},
        )
        assert created.status_code == 201, created.text
        assert balance(gateway, key)["held_micro_usd"] > 0
        call_id = created.headers["location"].rsplit("/", 1)[1]
        assert client.post(f"/v1/realtime/calls/{call_id}/hangup").status_code == 200
    assert settled(gateway, key)["balance_micro_usd"] == 1_000_000


def transcribed(gateway: RunningGateway, key: str, pcm: bytes) -> str:
    with gateway.client(key) as client:
        spoken = client.post(
            "/api/v1/audio",
            json={
                "model": "local-whisper-tiny-en",
                "input": "data:audio/wav;base64," + base64.b64encode(_wav(pcm)).decode(),
            },
        )
    assert spoken.status_code == 200, spoken.text
    text: str = spoken.json()["data"]["text"]
    return text


def test_an_offer_without_the_events_channel_is_refused_by_name(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rtc-bad-{secrets.token_hex(4)}", "1.00")
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        refused = client.post(
            "/v1/realtime/calls",
            content="v=0\r\n",
            headers={
                "Authorization": f"Bearer {mint(gateway, key)}",
                "Content-Type": "application/sdp",
            },
        )
        unsigned = client.post(
            "/v1/realtime/calls", content="v=0\r\n", headers={"Content-Type": "application/sdp"}
        )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "sdp"
    assert unsigned.status_code == 401


def opening(text: str, words: int = 4) -> str:
    """The first few words of a text."""
    return " ".join(text.split()[:words])
