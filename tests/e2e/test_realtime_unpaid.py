"""Realtime work that went unpaid (issue 24), each attack against the real gateway and the
simulator: every response is held before it reaches the provider and capped to what is held,
an upstream that dies mid-response leaves it charged, a local chat leg is held before it runs,
and what a hostile client sends is bounded. Every record ends with charged == cost <= held."""

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from tests.e2e.test_realtime import question_pcm
from tests.e2e.test_realtime_money import (
    SECOND,
    append,
    manual_turns,
    settled,
    until,
    usage,
    wallet,
)
from tests.e2e.test_realtime_money import url as ws_url
from tests.gateway_process import (
    SIM_KEYS,
    RunningGateway,
    RunningSimulator,
    routed_gateway,
    whole_lines,
)

# gpt-audio-1.5's dearest output token: $10.00 per 1M tokens, 10 micro-USD.
OUTPUT_TOKEN_MICRO_USD = 10
BUFFER_SECONDS = 2


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = tmp_path_factory.mktemp("rt-unpaid")
    limits = {
        "VOXGATE_REALTIME_MAX_BUFFER_SECONDS": str(BUFFER_SECONDS),
        # An upstream that dies here ends the session (failover is test_realtime_failover's).
        "VOXGATE_REALTIME_FAILOVER": "false",
    }
    with routed_gateway(root, fast=True, **limits) as served:
        yield served


def connect(gateway: RunningGateway, key: str, model: str = "gpt-audio-1.5") -> Any:
    """A client that takes the large events these tests provoke (OpenAI sends up to 15 MiB)."""
    return websockets.connect(
        ws_url(gateway, model), additional_headers={"Authorization": f"Bearer {key}"}, max_size=None
    )


def books_hold(gateway: RunningGateway, key: str) -> list[dict[str, Any]]:
    """Nothing left held, and every charge was covered by its hold and equals its cost."""
    assert settled(gateway, key)["held_micro_usd"] == 0
    records = usage(gateway, key)
    for record in records:
        if record["cost_micro_usd"]:
            assert record["charged_micro_usd"] == record["cost_micro_usd"], record
    return records


def test_a_response_the_credit_cannot_hold_never_reaches_the_provider(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-dear-{secrets.token_hex(4)}", "0.02")
    # A million words of instructions: the simulator bills one input token a word, $2.50.
    instructions = "word " * 1_000_000

    async def dear_response() -> dict[str, Any]:
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            update = {"type": "session.update", "session": {"instructions": instructions}}
            await socket.send(json.dumps(update))
            await until(socket, "session.updated")
            await socket.send(json.dumps({"type": "response.create", "event_id": "ev_dear"}))
            return await until(socket, "error", "response.created")

    refusal = asyncio.run(dear_response())
    assert refusal["type"] == "error", refusal
    assert refusal["error"]["code"] == "insufficient_credit"
    assert refusal["error"]["event_id"] == "ev_dear"
    records = books_hold(gateway, key)
    assert sum(r["charged_micro_usd"] or 0 for r in records) == 0
    assert wallet(gateway, key)["balance_micro_usd"] == 20_000


def test_a_response_is_capped_to_the_output_its_hold_covers(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-cap-{secrets.token_hex(4)}", "0.02")

    async def capped() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            await append(socket, SECOND[: len(SECOND) // 2])
            await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
            asked = {"type": "response.create", "response": {"max_output_tokens": 4096}}
            await socket.send(json.dumps(asked))
            created = await until(socket, "response.created")
            return created, await until(socket, "response.done")

    created, done = asyncio.run(capped())
    cap = created["response"]["max_output_tokens"]
    # $0.02 holds fewer than 2,000 output tokens at $10 per 1M; 4,096 were asked for.
    assert 0 < cap < 20_000 // OUTPUT_TOKEN_MICRO_USD, created
    assert done["response"]["status"] == "completed"
    records = books_hold(gateway, key)
    [charged] = [r for r in records if r["cost_micro_usd"]]
    assert charged["cost_micro_usd"] <= 20_000


def test_an_upstream_that_dies_mid_response_leaves_it_charged(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    key = gateway.new_workspace(f"rt-cut-{secrets.token_hex(4)}", "1.00")
    sim.queue_faults(SIM_KEYS["azure"], {"kind": "cut"})

    async def cut_mid_response() -> tuple[dict[str, Any], int | None]:
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            await append(socket, SECOND[: len(SECOND) // 2])
            await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
            await socket.send(json.dumps({"type": "response.create"}))
            await until(socket, "response.output_audio.delta")
            error = await until(socket, "error", "response.done")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 60)
            return error, closed.value.rcvd.code if closed.value.rcvd else None

    error, code = asyncio.run(cut_mid_response())
    assert error["type"] == "error" and error["error"]["code"] == "upstream_closed", error
    assert code == 1011
    records = books_hold(gateway, key)
    [partial] = [r for r in records if r["status"] == "partial"]
    # 200 ms of audio passed before the provider died: 4 output tokens, and the input held.
    assert partial["output_audio_tokens"] == 4, partial
    assert partial["cost_micro_usd"] > 0
    assert log_line(gateway, "charged from what passed")


def log_line(gateway: RunningGateway, phrase: str) -> str:
    """The first whole line of the gateway's log that says `phrase` (waiting for it)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = next((line for line in whole_lines(gateway.output) if phrase in line), None)
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no log line says {phrase!r}")


def test_an_upstream_event_over_a_mebibyte_keeps_the_session(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-big-{secrets.token_hex(4)}", "1.00")
    # Thirty seconds of audio in one item: the provider echoes it in an event past 1 MiB.
    audio = base64.b64encode(bytes(48_000 * 30)).decode()

    async def big_item() -> dict[str, Any]:
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            item = {"type": "message", "role": "user"}
            item["content"] = [{"type": "input_audio", "audio": audio}]
            await socket.send(json.dumps({"type": "conversation.item.create", "item": item}))
            added = await until(socket, "conversation.item.added", "error")
            assert added["type"] == "conversation.item.added", added
            await socket.send(json.dumps({"type": "response.create"}))
            return await until(socket, "response.done", "error")

    done = asyncio.run(big_item())
    assert done["type"] == "response.done", done
    books_hold(gateway, key)


def test_closing_right_after_response_create_leaves_it_charged(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-gone-{secrets.token_hex(4)}", "1.00")

    async def leave_at_once() -> None:
        for _ in range(3):
            async with connect(gateway, key) as socket:
                await manual_turns(socket)
                await append(socket, SECOND[: len(SECOND) // 2])
                await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
                await until(socket, "input_audio_buffer.committed")
                await socket.send(json.dumps({"type": "response.create"}))

    asyncio.run(leave_at_once())
    records = books_hold(gateway, key)
    responses = [r for r in records if r["cost_micro_usd"]]
    assert len(responses) == 3, records


def test_a_relayed_session_update_with_a_bad_audio_field_gets_an_error_event(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-audio-x-{secrets.token_hex(4)}", "1.00")

    async def bad_then_good() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            bad = {"type": "session.update", "session": {"audio": "x"}}
            await socket.send(json.dumps(bad))
            error = await until(socket, "error", "session.updated")
            await socket.send(json.dumps({"type": "session.update", "session": {}}))
            return error, await until(socket, "session.updated", "error")

    error, updated = asyncio.run(bad_then_good())
    assert error["type"] == "error" and error["error"]["param"] == "session.audio", error
    assert updated["type"] == "session.updated"


def test_a_local_chat_leg_cut_off_mid_call_is_charged(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    key = gateway.new_workspace(f"rt-local-cut-{secrets.token_hex(4)}", "1.00")
    # The chat route does not answer in time: the client cancels while it waits.
    sim.queue_faults("cascade-key", {"kind": "timeout"})
    calls = chat_calls(sim)

    async def cancel_mid_call() -> dict[str, Any]:
        async with connect(gateway, key, "local-realtime") as socket:
            await manual_turns(socket)
            text = {"type": "input_text", "text": "Tell me a long story."}
            item = {"type": "message", "role": "user", "content": [text]}
            await socket.send(json.dumps({"type": "conversation.item.create", "item": item}))
            await socket.send(json.dumps({"type": "response.create"}))
            await until(socket, "conversation.item.added")
            await until(socket, "conversation.item.added")  # the answer's item: the call runs
            await wait_for_chat(sim, calls)
            await socket.send(json.dumps({"type": "response.cancel"}))
            return await until(socket, "response.done")

    done = asyncio.run(cancel_mid_call())
    assert done["response"]["status"] == "cancelled"
    records = books_hold(gateway, key)
    [chat] = [r for r in records if r["status"] == "partial"]
    assert chat["input_text_tokens"] > 0 and chat["cost_micro_usd"] > 0, chat


def chat_calls(sim: RunningSimulator) -> int:
    return sum(entry["path"].endswith("chat/completions") for entry in sim.requests())


async def wait_for_chat(sim: RunningSimulator, before: int) -> None:
    """Until the simulator has seen one more chat call than `before`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if await asyncio.to_thread(chat_calls, sim) > before:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the chat route was never called")


def test_local_instructions_past_a_million_characters_are_held_and_charged(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-local-long-{secrets.token_hex(4)}", "1.00")
    instructions = "Be brief. " * 120_000

    async def long_instructions() -> dict[str, Any]:
        async with connect(gateway, key, "local-realtime") as socket:
            await manual_turns(socket)
            update = {"type": "session.update", "session": {"instructions": instructions}}
            await socket.send(json.dumps(update))
            await until(socket, "session.updated")
            await socket.send(json.dumps({"type": "response.create"}))
            return await until(socket, "response.done")

    done = asyncio.run(long_instructions())
    assert done["response"]["status"] == "completed", done
    records = books_hold(gateway, key)
    [chat] = [r for r in records if r["input_text_tokens"]]
    assert chat["input_text_tokens"] >= len(instructions) // 10


def test_a_local_input_buffer_is_bounded(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-local-buf-{secrets.token_hex(4)}", "1.00")

    async def overfill() -> dict[str, Any]:
        async with connect(gateway, key, "local-realtime") as socket:
            await manual_turns(socket)
            for _ in range(BUFFER_SECONDS + 1):
                await append(socket, SECOND)
            return await until(socket, "error")

    error = asyncio.run(overfill())
    assert error["error"]["code"] == "input_audio_buffer_full"


def test_a_minted_session_is_bounded_in_size(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-mint-big-{secrets.token_hex(4)}", "1.00")
    session = {"type": "realtime", "model": "gpt-audio-1.5", "instructions": "x" * 300_000}
    with gateway.client(key) as client:
        refused = client.post("/v1/realtime/client_secrets", json={"session": session})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "session"


def test_no_secret_is_minted_for_a_workspace_that_cannot_pay_the_minimum_hold(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-mint-broke-{secrets.token_hex(4)}", "0.00")
    session = {"type": "realtime", "model": "gpt-audio-1.5"}
    with gateway.client(key) as client:
        refused = client.post("/v1/realtime/client_secrets", json={"session": session})
        older = client.post("/v1/realtime/sessions", json={"model": "gpt-audio-1.5"})
    assert (refused.status_code, older.status_code) == (402, 402), refused.text
    assert refused.json()["error"]["code"] == "insufficient_credit"


async def vad_turn(gateway: RunningGateway, key: str, instructions: str) -> list[dict[str, Any]]:
    """A spoken turn that the server's voice detector ends (its default: answer each turn),
    until the turn's response is created or refused."""
    pcm = question_pcm(gateway, gateway.key) + bytes(48_000)  # then a second of silence
    events: list[dict[str, Any]] = []
    async with connect(gateway, key) as socket:
        await until(socket, "session.created")
        update = {"type": "session.update", "session": {"instructions": instructions}}
        await socket.send(json.dumps(update))
        events.append(await until(socket, "session.updated"))
        for start in range(0, len(pcm), 9600):
            await append(socket, pcm[start : start + 9600])
        while events[-1]["type"] not in ("response.created", "error"):
            events.append(json.loads(await asyncio.wait_for(socket.recv(), 60)))
        if events[-1]["type"] == "response.created":
            events.append(await until(socket, "response.done"))
    return events


def test_a_response_server_vad_starts_is_held_and_capped_first(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-vad-{secrets.token_hex(4)}", "0.02")
    events = asyncio.run(vad_turn(gateway, key, "Answer briefly."))
    kinds = [event["type"] for event in events]
    assert "input_audio_buffer.speech_stopped" in kinds, kinds
    # The client sees the session it asked for: the provider's turns answered, by the gateway.
    detection = events[0]["session"]["audio"]["input"]["turn_detection"]
    assert detection["create_response"] is True, detection
    [created] = [event for event in events if event["type"] == "response.created"]
    assert 0 < created["response"]["max_output_tokens"] < 20_000 // OUTPUT_TOKEN_MICRO_USD
    assert events[-1]["response"]["status"] == "completed"
    books_hold(gateway, key)


def test_a_response_server_vad_would_start_past_the_credit_never_runs(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-vad-dear-{secrets.token_hex(4)}", "0.02")
    events = asyncio.run(vad_turn(gateway, key, "word " * 1_000_000))
    refusal = events[-1]
    assert refusal["type"] == "error" and refusal["error"]["code"] == "insufficient_credit"
    assert "response.created" not in [event["type"] for event in events]
    records = books_hold(gateway, key)
    assert sum(r["charged_micro_usd"] or 0 for r in records) == 0
