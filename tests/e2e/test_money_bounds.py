"""A hold is a hard cap, whatever the client sends and whatever the provider does.

Hypothesis draws a wallet, a request (its model, task, surface, text in any script, speed,
streamed or not) and a provider behaviour (normal, a fault before the answer, a stream cut
midway, or one that ignores the request's cap), sends it to a real gateway routed to the
simulator, and reads the books: every usage record has `charged == cost <= held`, the balance
never goes below zero, the ledger sums to it, and nothing stays held.
"""

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator, routed_gateway

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
    if kind == "speech-stream":
        body = {
            "model": "gpt-4o-mini-tts",
            "input": text[:4096],
            "voice": "alloy",
            "response_format": "pcm",
            "speed": speed,
            "stream_format": "sse",
        }
        return Call("/v1/audio/speech", body, openai, streamed=True)
    messages = [{"role": "user", "content": text}]
    if kind == "chat-text":
        body = {"model": "gpt-audio", "modalities": ["text"], "messages": messages}
        return Call("/v1/chat/completions", body, openai, streamed=draw(st.booleans()))
    body = {
        "model": "gpt-audio",
        "modalities": ["text", "audio"],
        "messages": messages,
        "audio": {"voice": "alloy", "format": "pcm16"},
    }
    return Call("/v1/chat/completions", body, openai, streamed=True)


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
    try:
        with client.stream("POST", call.path, json=body) as response:
            for _ in response.iter_raw():
                pass
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
