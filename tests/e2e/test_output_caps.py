"""What a chat-model route sends upstream is capped by what is held, and what is held is sized
to the request: speech capped from its text (spoken in pieces when it needs more than one
answer can take), a short input held at the row's minimum, the row's whole output reachable,
text-only answers held at text rates.

The gateway and the simulator run on loopback ports; the simulator's log shows each request
the gateway sent upstream, and the honest simulator cuts its answers at their cap.
"""

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.audio_probe import probe
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

ROW = load_catalog(Settings().catalog_dir).get("gpt-audio-1.5")
SENTENCE = "The quick brown fox jumps over the lazy dog near the quiet river bank. "


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, Any]]:
    with routed_gateway(Path(tmp_path_factory.mktemp("output-caps"))) as pair:
        yield pair


def chat_requests(sim: RunningSimulator) -> list[dict[str, Any]]:
    return [r["body"] for r in sim.requests() if r["path"].endswith("/chat/completions")]


def only_record(gateway: RunningGateway, key: str) -> dict[str, Any]:
    with gateway.client(key) as client:
        [record] = client.get("/api/v1/usage").json()["data"]
    return record


def workspace(gateway: RunningGateway, credit_usd: str) -> str:
    return gateway.new_workspace(f"caps-{secrets.token_hex(4)}", credit_usd)


def test_twenty_thousand_characters_of_speech_are_spoken_in_pieces_in_one_answer(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    text = (SENTENCE * 290)[:20_000]
    key = workspace(gateway, "5.00")
    body = {"model": "gpt-audio-1.5", "task": "tts", "input": text, "response_format": "wav"}
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json=body)
    assert response.status_code == 200, response.text
    sent = chat_requests(sim)
    assert ROW is not None and ROW.max_output_tokens is not None
    assert len(sent) > 1
    assert all(0 < b["max_completion_tokens"] <= ROW.max_output_tokens for b in sent)
    spoken = [b["messages"][-1]["content"][0]["text"] for b in sent]
    assert "".join(spoken) == text
    # Every piece but the last ends a sentence.
    assert all(piece.rstrip().endswith(".") for piece in spoken[:-1])
    audio = base64.b64decode(response.json()["data"]["audio_base64"])
    # The fast simulator speaks any text as one second of tone: one second a piece.
    assert probe(audio).duration_seconds == pytest.approx(len(sent), abs=0.05)
    record = only_record(gateway, key)
    assert record["status"] == "succeeded"
    assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]
    held_tokens = sum(b["max_completion_tokens"] for b in sent)
    assert record["hold_micro_usd"] >= held_tokens * 10  # $10/1M output


def test_short_speech_holds_the_row_minimum(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    key = workspace(gateway, "0.011")
    body = {"model": "gpt-audio-1.5", "task": "tts", "input": "Hello there."}
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json=body)
    assert response.status_code == 200, response.text
    [sent] = chat_requests(sim)
    assert sent["max_completion_tokens"] < 100
    assert only_record(gateway, key)["hold_micro_usd"] == 10_000


def test_the_rows_whole_output_is_reachable_and_no_more(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    key = workspace(gateway, "1.00")
    body = {"model": "gpt-audio-1.5", "input": "Tell me a long story.", "max_output_tokens": 16384}
    with gateway.client(key) as client:
        assert client.post("/api/v1/audio", json=body).status_code == 200
        [sent] = chat_requests(sim)
        assert sent["max_completion_tokens"] == 16384
        over = client.post("/api/v1/audio", json=body | {"max_output_tokens": 16385})
    assert over.status_code == 400
    assert over.json()["error"]["param"] == "max_output_tokens"


def test_a_lower_cap_is_sent_and_an_honest_provider_cuts_at_it(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    key = workspace(gateway, "1.00")
    body = {"model": "gpt-audio-1.5", "input": "Say something.", "max_output_tokens": 12}
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json=body)
    assert response.status_code == 200, response.text
    [sent] = chat_requests(sim)
    assert sent["max_completion_tokens"] == 12
    record = only_record(gateway, key)
    assert record["output_text_tokens"] + record["output_audio_tokens"] <= 12
    assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]


def test_text_only_chat_is_held_at_text_rates(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    key = workspace(gateway, "0.05")
    body = {
        "model": "gpt-audio",
        "modalities": ["text"],
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }
    with gateway.client(key) as client:
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    record = only_record(gateway, key)
    # 2,048 text tokens at $10/1M, not at the $64/1M of audio output.
    assert record["hold_micro_usd"] < 2048 * 64
    assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]
