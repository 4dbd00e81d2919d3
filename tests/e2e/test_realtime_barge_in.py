"""Barge-in (issue 26): `conversation.item.truncate`, `conversation.item.retrieve`,
`conversation.item.delete` and `output_audio_buffer.clear` on the local cascade and through
the relay (the simulator speaks the same protocol), in both dialects, every server event judged
by the official `openai` package's unions; an `error` only for what OpenAI refuses."""

import asyncio
import base64
import secrets
from typing import Any

import pytest
import websockets

from tests.e2e.test_realtime_protocol import BETA, BETA_HEADERS, GA, Script, beta_name, url
from tests.e2e.test_realtime_protocol import served as served  # a fixture, re-exported
from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator

PCM16_BYTES_PER_MS = 48
QUESTION = " ".join(["Tell me about the rooms of the museum and what hangs in them."] * 6)


async def barge_in(address: str, key: str, *, beta: bool) -> tuple[Script, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} | (BETA_HEADERS if beta else {})
    async with websockets.connect(address, additional_headers=headers, max_size=None) as socket:
        script = Script(socket)
        await script.until("session.created")
        manual: dict[str, Any] = {"turn_detection": None}
        if not beta:
            manual = {"type": "realtime", "audio": {"input": manual}}
        await script.send({"type": "session.update", "session": manual})
        await script.until("session.updated")
        content = [{"type": "input_text", "text": QUESTION}]
        item = {"type": "message", "role": "user", "content": content}
        await script.send({"type": "conversation.item.create", "item": item})
        user = await script.until(beta_name("conversation.item.added", beta))
        await script.send({"type": "response.create"})
        first = await script.until("response.done")
        answer = first["response"]["output"][0]
        delta = beta_name("response.output_audio.delta", beta)
        spoken = sum(len(base64.b64decode(e["delta"])) for e in script.events if e["type"] == delta)
        spoken_ms = spoken // PCM16_BYTES_PER_MS
        # The user spoke over the answer: it heard only the first half.
        heard_ms = spoken_ms // 2
        truncate = {"item_id": answer["id"], "content_index": 0}
        await script.send(
            {"type": "conversation.item.truncate", **truncate, "audio_end_ms": heard_ms}
        )
        truncated = await script.until("conversation.item.truncated", "error")
        await script.send({"type": "conversation.item.retrieve", "item_id": answer["id"]})
        retrieved = await script.until("conversation.item.retrieved", "error")
        past = {"type": "conversation.item.truncate", **truncate, "audio_end_ms": spoken_ms + 1}
        await script.send(past | {"event_id": "ev_past"})
        refused = await script.until("error")
        # A second answer, cut off while it is spoken.
        await script.send({"type": "response.create"})
        await script.until(delta)
        since = len(script.events)
        await script.send({"type": "output_audio_buffer.clear"})
        cleared, second = await both(script, since, "output_audio_buffer.cleared", "response.done")
        await script.send({"type": "conversation.item.delete", "item_id": user["item"]["id"]})
        deleted = await script.until("conversation.item.deleted", "error")
        return script, {
            "first": first,
            "spoken_ms": spoken_ms,
            "heard_ms": heard_ms,
            "truncated": truncated,
            "retrieved": retrieved,
            "refused": refused,
            "cleared": cleared,
            "second": second,
            "deleted": deleted,
        }


async def both(script: Script, since: int, *kinds: str) -> list[dict[str, Any]]:
    """The first event of each kind from `since` on, in whichever order they come."""

    while not set(kinds) <= {e["type"] for e in script.events[since:]}:
        await script.until(*kinds)
    firsts: dict[str, dict[str, Any]] = {}
    for event in script.events[since:]:
        firsts.setdefault(event["type"], event)
    return [firsts[kind] for kind in kinds]


@pytest.mark.parametrize("model", ["local-realtime", "gpt-audio-1.5"])
@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_barge_in_truncates_the_answer_the_user_heard(
    served: tuple[RunningGateway, RunningSimulator], model: str, beta: bool
) -> None:
    gateway, sim = served
    key = gateway.new_workspace(f"rt-barge-in-{secrets.token_hex(4)}", "1.00")
    if model != "local-realtime":  # the relay's first route speaks in real time, or nearly
        sim.queue_faults(SIM_KEYS["azure"], {"kind": "paced", "chunk_interval_ms": 20})
    script, seen = asyncio.run(barge_in(url(gateway, model), key, beta=beta))
    oracle = BETA if beta else GA
    for event in script.events:
        oracle.validate_python(event)  # raises on any field or name the SDK does not know
    answer = seen["first"]["response"]["output"][0]
    full = answer["content"][0]["transcript"]
    assert seen["spoken_ms"] > 0
    assert seen["truncated"]["type"] == "conversation.item.truncated", seen["truncated"]
    assert seen["truncated"]["audio_end_ms"] == seen["heard_ms"]
    kept = seen["retrieved"]["item"]["content"][0]["transcript"]
    assert 0 < len(kept) < len(full) and full.startswith(kept), (kept, full)
    assert seen["refused"]["error"]["param"] == "audio_end_ms"
    assert seen["refused"]["error"]["event_id"] == "ev_past"
    assert seen["cleared"]["response_id"] == seen["second"]["response"]["id"]
    assert seen["second"]["response"]["status"] == "cancelled"
    assert seen["deleted"]["type"] == "conversation.item.deleted"
    errors = [e for e in script.events if e["type"] == "error"]
    assert errors == [seen["refused"]]
