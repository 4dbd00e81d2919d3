"""A hold is a hard cap, whatever the client sends and whatever the provider does.

Hypothesis draws a wallet, a request (its model, task, surface, text in any script, speed,
streamed or not, audio at a low byte rate, compressed audio references, realtime items past a
megabyte), a client that may hang up after any chunk, and a provider behaviour (normal, a fault before the answer, a stream
cut midway, or one that ignores the request's cap), sends it to a real gateway routed to the
simulator, and reads the books: every usage record has `charged == cost <= held`, the balance
never goes below zero, the ledger sums to it, and nothing stays held.
"""

import asyncio
import base64
import json
import secrets
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e import test_realtime_money as rt
from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator, routed_gateway
from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio

# Letters of several scripts, digits, Roman numerals and emoji: each is spoken at its own length.
SCRIPTS = st.sampled_from(
    [
        "abcdefghijklmnopqrstuvwxyz ,.",
        "ሀሁሂሃሄህሆለሉሊላሌልሎ ።",  # Ethiopic
        "مرحبابكمفيالعالم ،.",
        "你好世界欢迎来到这里 。",
        "0123456789 ",
        "IVXLCDM ",
        "😀🎉👍🚀 ",
    ]
)


@st.composite
def texts(draw: st.DrawFn) -> str:
    alphabet = draw(SCRIPTS)
    text = draw(st.text(alphabet=alphabet, min_size=1, max_size=300)).strip() or "Hello."
    # Long text too: past what one capped answer can speak.
    return text * draw(st.sampled_from([1, 1, 20]))


@dataclass(frozen=True)
class Call:
    path: str
    body: dict[str, Any]
    credential: str
    streamed: bool
    # A streamed answer's client hangs up after this many reads (None: it reads to the end).
    hang_up_after: int | None = None


def silent_flac(seconds: int) -> str:
    """Audio at a few bytes a second: silence, as FLAC compresses it."""
    pcm = PcmAudio(bytes(2 * 16_000 * seconds), 16_000)
    return base64.b64encode(encode(pcm, "flac")).decode()


def cascade_id(text: bytes) -> str:
    """An earlier answer's audio id on the local cascade: its text, compressed."""
    return "audio_vgc_" + base64.urlsafe_b64encode(zlib.compress(text)).decode().rstrip("=")


@st.composite
def calls(draw: st.DrawFn) -> Call:
    text = draw(texts())
    speed = draw(st.sampled_from([0.25, 1.0, 4.0]))
    kind = draw(
        st.sampled_from(
            [
                "unified-chat-tts",
                "unified-chat",
                "openai-tts",
                "gemini-tts",
                "chat-text",
                "chat-audio",
                "speech-stream",
                "chat-heard",
                "cascade-reference",
            ]
        )
    )
    azure, openai, gemini = SIM_KEYS["azure"], SIM_KEYS["primary"], SIM_KEYS["gemini"]
    if kind == "unified-chat-tts":
        body = {"model": "gpt-audio-1.5", "task": "tts", "input": text, "speed": speed}
        return Call("/api/v1/audio", body, azure, streamed=False)
    if kind == "unified-chat":
        body = {"model": "gpt-audio-1.5", "task": "audio_chat", "input": text}
        return Call("/api/v1/audio", body, azure, streamed=False)
    if kind == "openai-tts":
        body = {"model": "gpt-4o-mini-tts", "input": text, "speed": speed}
        return Call("/api/v1/audio", body, openai, streamed=False)
    if kind == "gemini-tts":
        body = {"model": "gemini-2.5-flash-tts", "input": text, "speed": speed}
        return Call("/api/v1/audio", body, gemini, streamed=False)
    hang_up = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=4)))
    if kind == "speech-stream":
        body = {
            "model": "gpt-4o-mini-tts",
            "input": text[:4096],
            "voice": "alloy",
            "response_format": "pcm",
            "speed": speed,
            "stream_format": "sse",
        }
        return Call("/v1/audio/speech", body, openai, streamed=True, hang_up_after=hang_up)
    if kind == "chat-heard":
        # Minutes of audio in a few hundred bytes: held by what it lasts, not by its size.
        part = {
            "type": "input_audio",
            "input_audio": {
                "data": silent_flac(draw(st.sampled_from([1, 60, 600]))),
                "format": "flac",
            },
        }
        body = {
            "model": "gpt-audio",
            "modalities": ["text"],
            "messages": [{"role": "user", "content": [part]}],
        }
        return Call("/v1/chat/completions", body, openai, streamed=False)
    if kind == "cascade-reference":
        # An earlier answer named by its compressed id: held as the text it unpacks to.
        unpacked = text.encode() * draw(st.sampled_from([1, 100, 100_000]))
        messages = [
            {"role": "user", "content": "Hi."},
            {"role": "assistant", "audio": {"id": cascade_id(unpacked)}},
            {"role": "user", "content": text},
        ]
        body = {"model": "local-voice-chat", "messages": messages}
        return Call("/v1/chat/completions", body, "cascade-key", streamed=False)
    messages = [{"role": "user", "content": text}]
    if kind == "chat-text":
        body = {"model": "gpt-audio", "modalities": ["text"], "messages": messages}
        streamed = draw(st.booleans())
        return Call("/v1/chat/completions", body, openai, streamed, hang_up if streamed else None)
    body = {
        "model": "gpt-audio",
        "modalities": ["text", "audio"],
        "messages": messages,
        "audio": {"voice": "alloy", "format": "pcm16"},
    }
    return Call("/v1/chat/completions", body, openai, streamed=True, hang_up_after=hang_up)


# What the provider does: answer as asked, fail first (then the next route or key answers),
# stop a stream after its first chunk, or send past the request's cap.
BEHAVIOURS = st.sampled_from([None, "500", "cut", "uncapped"])


@pytest.fixture(scope="module")
def routed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(Path(tmp_path_factory.mktemp("money-bounds"))) as pair:
        yield pair


def send(client: httpx.Client, call: Call) -> int:
    if not call.streamed:
        return client.post(call.path, json=call.body).status_code
    body = call.body | ({"stream": True} if call.path.endswith("completions") else {})
    # A connection of its own: one the client hangs up on is never reused to read the books.
    with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=120) as own:
        try:
            with own.stream("POST", call.path, json=body) as response:
                for read, _ in enumerate(response.iter_raw(), start=1):
                    if read == call.hang_up_after:
                        break  # the client hangs up: closing the response drops the connection
                return response.status_code
        except httpx.HTTPError:
            return 0  # a stream cut midway: the books are what this test reads


def settled_books(client: httpx.Client) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The balance once nothing is held any more, and every usage record."""
    deadline = time.monotonic() + 60
    while (balance := client.get("/api/v1/balance").json())["held_micro_usd"]:
        assert time.monotonic() < deadline, "a hold was never closed"
        time.sleep(0.05)
    return balance, client.get("/api/v1/usage", params={"limit": 1000}).json()["data"]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    wallet=st.integers(min_value=0, max_value=150_000),
    call=calls(),
    behaviour=BEHAVIOURS,
)
def test_charged_equals_cost_within_the_hold_on_every_path(
    routed: tuple[RunningGateway, RunningSimulator],
    wallet: int,
    call: Call,
    behaviour: str | None,
) -> None:
    gateway, sim = routed
    sim.reset()
    if behaviour is not None:
        sim.queue_faults(call.credential, {"kind": behaviour})
    credit = f"{wallet // 1_000_000}.{wallet % 1_000_000:06d}"
    key = gateway.new_workspace(f"bounds-{secrets.token_hex(5)}", credit)
    with gateway.client(key) as client:
        status = send(client, call)
        balance, records = settled_books(client)
    assert status != 500, "a client's request is never a 500"
    assert records, "every request leaves a usage record"
    for record in records:
        assert record["charged_micro_usd"] == record["cost_micro_usd"], record
        assert record["cost_micro_usd"] <= record["hold_micro_usd"] or (
            record["cost_micro_usd"] == 0
        ), record
    charged = sum(record["charged_micro_usd"] for record in records)
    assert balance["balance_micro_usd"] == wallet - charged >= 0
    assert balance["held_micro_usd"] == 0


# What a realtime upstream does: answer as asked, drop the socket or go quiet after a few
# events (the session then moves to the next route), or report a server_error.
REALTIME_BEHAVIOURS = st.one_of(
    st.none(),
    st.builds(
        lambda kind, after: {"kind": kind, "after_events": after},
        st.sampled_from(["drop", "server_error"]),
        st.integers(min_value=1, max_value=6),
    ),
)


async def realtime_turn(gateway: RunningGateway, key: str, text: str, cap: int | None) -> None:
    """One typed turn and its answer on a relayed session; a refused handshake or an error
    event ends it early (the books are what the test reads)."""
    try:
        async with websockets.connect(
            rt.url(gateway),
            additional_headers={"Authorization": f"Bearer {key}"},
            max_size=None,
        ) as socket:
            await rt.manual_turns(socket)
            item = {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            }
            await socket.send(json.dumps({"type": "conversation.item.create", "item": item}))
            response = {"max_output_tokens": cap} if cap is not None else {}
            await socket.send(json.dumps({"type": "response.create", "response": response}))
            await rt.until(socket, "response.done", "error")
    except (websockets.InvalidStatus, websockets.ConnectionClosed):
        pass


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    wallet=st.integers(min_value=0, max_value=150_000),
    text=texts(),
    cap=st.one_of(st.none(), st.integers(min_value=1, max_value=4096)),
    behaviour=REALTIME_BEHAVIOURS,
    # An item past a megabyte: larger than a websocket library's default frame, which the
    # provider echoes back.
    oversize=st.booleans(),
)
def test_a_realtime_session_is_never_charged_past_its_holds(
    routed: tuple[RunningGateway, RunningSimulator],
    wallet: int,
    text: str,
    cap: int | None,
    behaviour: dict[str, Any] | None,
    oversize: bool,
) -> None:
    gateway, sim = routed
    sim.reset()
    if behaviour is not None:
        sim.queue_faults(SIM_KEYS["azure"], behaviour)
    credit = f"{wallet // 1_000_000}.{wallet % 1_000_000:06d}"
    key = gateway.new_workspace(f"rt-bounds-{secrets.token_hex(5)}", credit)
    said = text[:2000] + (" and more" * 150_000 if oversize else "")
    asyncio.run(asyncio.wait_for(realtime_turn(gateway, key, said, cap), 120))
    balance = rt.settled(gateway, key)
    records = rt.usage(gateway, key)
    for record in records:
        assert record["charged_micro_usd"] == record["cost_micro_usd"], record
        assert record["cost_micro_usd"] <= max(record["hold_micro_usd"], 0) or (
            record["cost_micro_usd"] == 0
        ), record
    charged = sum(record["charged_micro_usd"] for record in records)
    assert balance["balance_micro_usd"] == wallet - charged >= 0
    assert balance["held_micro_usd"] == 0
