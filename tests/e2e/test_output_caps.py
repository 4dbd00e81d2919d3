"""What a chat-model route sends upstream is capped by what is held, and what is held is sized
to the request: speech capped from its text (spoken in pieces when it needs more than one
answer can take), a short input held at the row's minimum, the row's whole output reachable,
text-only answers held at text rates.

The gateway and the simulator run on loopback ports; the simulator's log shows each request
the gateway sent upstream, and the honest simulator cuts its answers at their cap.
"""

import base64
import secrets
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.audio_probe import probe
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway
from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio
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
    assert isinstance(record, dict)
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


def silent_flac(seconds: int) -> str:
    """Silence compresses to almost nothing: about 15 bytes a second of FLAC."""
    return base64.b64encode(encode(PcmAudio(bytes(2 * 16_000 * seconds), 16_000), "flac")).decode()


def audio_chat(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": "gpt-audio", "modalities": ["text"], "messages": messages}


def test_chat_audio_is_held_by_its_decoded_duration_not_its_bytes(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    clip = silent_flac(1400)
    assert len(clip) * 3 // 4 < 1400 * 200  # far below 2,000 bytes a second
    part = {"type": "input_audio", "input_audio": {"data": clip, "format": "flac"}}
    body = audio_chat([{"role": "user", "content": [part]}])
    key = workspace(gateway, "0.01")
    with gateway.client(key) as client:
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 402, response.text
    assert chat_requests(sim) == []
    # 1,400 s at 10 audio tokens a second, twice over, at gpt-audio's $32/1M audio input.
    message = response.json()["error"]["message"]
    held = float(message.split("must hold $")[1].split()[0])
    assert held >= 1400 * 10 * 2 * 32 / 1_000_000, message


def test_an_audio_id_is_held_as_the_answer_it_can_name(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Say hello."},
        {"role": "assistant", "audio": {"id": "audio_abc123"}},
        {"role": "user", "content": "Again."},
    ]
    poor, rich = workspace(gateway, "0.10"), workspace(gateway, "1.00")
    with gateway.client(poor) as client:
        assert client.post("/v1/chat/completions", json=audio_chat(messages)).status_code == 402
    with gateway.client(rich) as client:
        assert client.post("/v1/chat/completions", json=audio_chat(messages)).status_code == 200
    assert ROW is not None and ROW.max_output_tokens is not None
    # The row's whole output of audio, heard again at $32/1M.
    assert only_record(gateway, rich)["hold_micro_usd"] >= ROW.max_output_tokens * 32


def cascade_id(text: bytes) -> str:
    return "audio_vgc_" + base64.urlsafe_b64encode(zlib.compress(text)).decode().rstrip("=")


def cascade_chat(audio_id: str) -> dict[str, Any]:
    return {
        "model": "local-voice-chat",
        "messages": [
            {"role": "user", "content": "Hi."},
            {"role": "assistant", "audio": {"id": audio_id}},
            {"role": "user", "content": "And then?"},
        ],
    }


def test_a_compressed_audio_id_is_not_unpacked_past_the_longest_answer(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    bomb = cascade_id(b"a" * 200_000_000)
    assert len(bomb) < 400_000
    key = workspace(gateway, "0.40")
    with gateway.client(key) as client:
        response = client.post("/v1/chat/completions", json=cascade_chat(bomb))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "messages[1].audio.id"
    assert chat_requests(sim) == []


def test_an_audio_id_is_held_as_the_text_it_unpacks_to(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    holds = []
    # A short answer, and the longest the cascade makes (512 tokens), 800 words here.
    for answer in (b"Hello.", ("word " * 800).encode()):
        key = workspace(gateway, "1.00")
        with gateway.client(key) as client:
            response = client.post("/v1/chat/completions", json=cascade_chat(cascade_id(answer)))
        assert response.status_code == 200, response.text
        record = only_record(gateway, key)
        assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]
        holds.append(record["hold_micro_usd"])
    # 800 more tokens read back, at $0.50/1M of text input.
    assert holds[1] - holds[0] >= 800 * 0.5 - 1


def settled_record(gateway: RunningGateway, key: str) -> dict[str, Any]:
    """A stream's one usage record, once its hold is closed."""
    with gateway.client(key) as client:
        deadline = time.monotonic() + 60
        while client.get("/api/v1/balance").json()["held_micro_usd"]:
            assert time.monotonic() < deadline, "the stream's hold was never closed"
            time.sleep(0.05)
        [record] = client.get("/api/v1/usage").json()["data"]
    assert isinstance(record, dict)
    return record


@pytest.mark.parametrize("speed", [1, 4])
def test_streamed_gemini_speech_is_metered_from_geminis_own_usage(
    routed: tuple[RunningGateway, RunningSimulator], speed: float
) -> None:
    gateway, sim = routed
    sim.reset()
    key = workspace(gateway, "1.00")
    body = {
        "model": "gemini-2.5-flash-tts",
        "input": "Hello there, my friend.",
        "voice": "alloy",
        "speed": speed,
        "response_format": "pcm",
    }
    with gateway.client(key) as client, client.stream("POST", "/v1/audio/speech", json=body) as r:
        assert r.status_code == 200
        audio = r.read()
    # The fast simulator speaks one second, which Gemini bills at 25 tokens; the client hears
    # it at the speed asked for.
    assert len(audio) / 48_000 == pytest.approx(1 / speed, abs=0.05)
    record = settled_record(gateway, key)
    assert record["output_audio_tokens"] == 25
    assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]


@pytest.mark.parametrize("speed", [1, 2])
def test_long_speech_on_a_chat_model_streams_piece_after_piece_in_one_charge(
    routed: tuple[RunningGateway, RunningSimulator], speed: float
) -> None:
    gateway, sim = routed
    sim.reset()
    text = SENTENCE * 200
    key = workspace(gateway, "5.00")
    body = {
        "model": "gpt-audio-1.5",
        "input": text,
        "voice": "alloy",
        "speed": speed,
        "response_format": "pcm",
    }
    with gateway.client(key) as client, client.stream("POST", "/v1/audio/speech", json=body) as r:
        assert r.status_code == 200
        audio = r.read()
    sent = chat_requests(sim)
    assert len(sent) > 1 and all(b["stream"] for b in sent)
    # One second of tone a piece, heard at the speed asked for.
    assert len(audio) / 48_000 == pytest.approx(len(sent) / speed, abs=0.05)
    record = settled_record(gateway, key)
    assert record["status"] == "succeeded"
    assert record["output_audio_tokens"] == 20 * len(sent)
    assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]


def test_speech_needing_too_many_answers_is_refused_before_any_is_asked_for(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    sim.reset()
    key = workspace(gateway, "5.00")
    body = {
        "model": "gpt-audio-1.5",
        "task": "tts",
        "input": SENTENCE * 20,
        "max_output_tokens": 50,
    }
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json=body)
    assert response.status_code == 400, response.text
    assert (response.json()["error"]["param"], response.json()["error"]["code"]) == (
        "input",
        "speech_too_long",
    )
    assert chat_requests(sim) == []
    assert only_record(gateway, key)["status"] == "rejected"
