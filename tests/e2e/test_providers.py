"""Providers, voice mapping and failover, gateway and simulator talking over real sockets."""

import base64
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.audio_probe import probe, probe_pcm16
from tests.gateway_process import (
    SIM_KEYS,
    RunningGateway,
    RunningSimulator,
    simulated_providers,
    start_gateway,
    start_simulator,
    stop_gateway,
)

PRIMARY, SECONDARY, GEMINI, AZURE = (
    SIM_KEYS[k] for k in ("primary", "secondary", "gemini", "azure")
)


def provider_env(sim: RunningSimulator, **overrides: str) -> dict[str, str]:
    return simulated_providers(sim, **overrides)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    process, running = start_simulator(tmp_path_factory.mktemp("sim"))
    yield running
    stop_gateway(process)


@pytest.fixture(scope="module")
def routed(
    tmp_path_factory: pytest.TempPathFactory, sim: RunningSimulator
) -> Iterator[RunningGateway]:
    process, running = start_gateway(tmp_path_factory.mktemp("routed"), provider_env(sim))
    yield running
    stop_gateway(process)


@pytest.fixture
def key(routed: RunningGateway, sim: RunningSimulator) -> str:
    sim.reset()
    return routed.new_workspace(f"providers-{secrets.token_hex(4)}", "5.00")


def post(
    gateway: RunningGateway, key: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any], str]:
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json=body)
    return response.status_code, response.json(), response.headers["x-request-id"]


def usage_record(gateway: RunningGateway, key: str, request_id: str) -> dict[str, Any]:
    with gateway.client(key) as client:
        record: dict[str, Any] = client.get(f"/api/v1/usage/{request_id}").json()
    return record


def balance(gateway: RunningGateway, key: str) -> int:
    with gateway.client(key) as client:
        micro: int = client.get("/api/v1/balance").json()["balance_micro_usd"]
    return micro


def audio_of(reply: dict[str, Any]) -> bytes:
    return base64.b64decode(reply["data"]["audio_base64"])


def test_the_seed_payload_through_the_azure_route(
    routed: RunningGateway, sim: RunningSimulator, key: str
) -> None:
    seed = {
        "model": "gpt-audio-1.5",
        "task": "audio_chat",
        "input": "Hello there, who are you?",
        "voice": "alloy",
        "response_format": "mp3",
        "speed": 1,
    }
    status, reply, request_id = post(routed, key, seed)
    assert status == 200, reply
    assert set(reply) == {"object", "data", "usage"}
    assert reply["object"] == "audio.chat"
    assert reply["data"]["content_type"] == "audio/mpeg"
    assert probe(audio_of(reply)).duration_seconds > 1
    assert reply["data"]["transcript"].startswith("The simulator heard")
    minutes = reply["usage"]["estimated_audio_minutes"]
    assert len(minutes.split(".")[1]) == 6
    calls = sim.requests()
    assert len(calls) == 1, calls
    [call] = calls
    assert call["path"] == "/openai/deployments/gpt-audio-1.5/chat/completions"
    assert call["query"] == "api-version=2025-01-01-preview"
    assert call["credential"] == AZURE
    assert call["body"]["audio"] == {"voice": "alloy", "format": "pcm16"}
    assert call["body"]["model"] == "gpt-audio-1.5"  # as the AzureOpenAI client sends it
    record = usage_record(routed, key, request_id)
    assert record["route"] == "azure-openai/gpt-audio-1.5#azure-openai"
    # The simulator's usage, billed at $2.50 in / $10.00 out per 1M tokens, rounded half up.
    tokens_in = record["input_text_tokens"] + record["input_audio_tokens"]
    tokens_out = record["output_text_tokens"] + record["output_audio_tokens"]
    assert tokens_out > 0
    expected = (tokens_in * 25 + tokens_out * 100 + 5) // 10
    assert record["cost_micro_usd"] == reply["usage"]["cost_micro_usd"] == expected


SPEECH = {
    "model": "gpt-4o-mini-tts",
    "input": "Failover keeps this sentence alive.",
    "voice": "coral",
    "response_format": "wav",
}


@pytest.mark.parametrize(
    ("fault", "logged_status"),
    [
        ({"kind": "500"}, "500"),
        ({"kind": "503"}, "503"),
        ({"kind": "429", "retry_after_seconds": 1}, "429"),
        ({"kind": "timeout"}, "error"),
        ({"kind": "reset"}, "error"),
        ({"kind": "cut"}, "error"),
        ({"kind": "malformed"}, "error"),
    ],
    ids=[
        "500",
        "503",
        "429-retry-after",
        "timeout",
        "reset-before-body",
        "cut-stream",
        "malformed",
    ],
)
def test_a_failing_key_fails_over_to_the_next_and_bills_once(
    routed: RunningGateway,
    sim: RunningSimulator,
    key: str,
    fault: dict[str, Any],
    logged_status: str,
) -> None:
    sim.queue_faults(PRIMARY, fault)
    before = balance(routed, key)
    status, reply, request_id = post(routed, key, SPEECH)
    assert status == 200, reply
    assert probe(audio_of(reply)).duration_seconds > 1
    record = usage_record(routed, key, request_id)
    assert [a["status"] for a in record["attempts"]] == [logged_status, "ok"]
    assert record["route"] == "openai/gpt-4o-mini-tts#openai-secondary"
    assert [c["credential"] for c in sim.requests()] == [PRIMARY, SECONDARY]
    assert (
        before - balance(routed, key)
        == record["cost_micro_usd"]
        == reply["usage"]["cost_micro_usd"]
    )


def test_retry_after_is_honoured(routed: RunningGateway, sim: RunningSimulator, key: str) -> None:
    sim.queue_faults(PRIMARY, {"kind": "429", "retry_after_seconds": 1.5})
    status, _, request_id = post(routed, key, SPEECH)
    assert status == 200
    first, second = usage_record(routed, key, request_id)["attempts"]
    assert (
        usage_record(routed, key, request_id)["latency_ms"]
        >= 1500 + first["latency_ms"] + second["latency_ms"] - 50
    )


@pytest.mark.parametrize(
    ("upstream", "client_status", "error_type"),
    [
        ("400", 400, "invalid_request_error"),
        ("422", 422, "invalid_request_error"),
        ("401", 502, "upstream_error"),
    ],
)
def test_client_errors_do_not_fail_over(
    routed: RunningGateway,
    sim: RunningSimulator,
    key: str,
    upstream: str,
    client_status: int,
    error_type: str,
) -> None:
    sim.queue_faults(PRIMARY, {"kind": upstream})
    before = balance(routed, key)
    status, reply, _ = post(routed, key, SPEECH)
    assert status == client_status
    assert reply["error"]["type"] == error_type
    assert (
        "openai" in reply["error"]["message"]
        and f"Simulated fault {upstream}" in reply["error"]["message"]
    )
    assert [c["credential"] for c in sim.requests()] == [PRIMARY]
    assert balance(routed, key) == before


def test_all_routes_down_is_503_with_the_hold_released(
    routed: RunningGateway, sim: RunningSimulator, key: str
) -> None:
    for credential in (PRIMARY, SECONDARY, GEMINI):
        sim.queue_faults(credential, {"kind": "503"})
    with routed.client(key) as client:
        response = client.post("/api/v1/audio", json=SPEECH)
        held = client.get("/api/v1/balance").json()["held_micro_usd"]
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert response.headers["retry-after"]
    assert held == 0
    record = usage_record(routed, key, response.headers["x-request-id"])
    assert (record["status"], record["cost_micro_usd"], len(record["attempts"])) == ("failed", 0, 3)


def test_failover_to_gemini_keeps_a_similar_voice(
    routed: RunningGateway, sim: RunningSimulator, key: str
) -> None:
    sim.queue_faults(PRIMARY, {"kind": "500"})
    sim.queue_faults(SECONDARY, {"kind": "500"})
    status, reply, request_id = post(routed, key, SPEECH)
    assert status == 200, reply
    gemini_call = sim.requests()[-1]
    assert gemini_call["path"] == "/v1beta/models/gemini-2.5-flash-preview-tts:generateContent"
    voice = gemini_call["body"]["generationConfig"]["speechConfig"]["voiceConfig"]
    assert voice == {"prebuiltVoiceConfig": {"voiceName": "Achird"}}  # coral: warm, friendly
    assert usage_record(routed, key, request_id)["provider"] == "gemini"


@pytest.mark.parametrize(
    ("response_format", "codec", "rate"),
    [
        ("mp3", "mp3float", 24_000),
        ("wav", "pcm_s16le", 24_000),
        ("opus", "opus", 48_000),
        ("flac", "flac", 24_000),
        ("aac", "aac", 24_000),
        ("pcm16", "pcm_s16le", 24_000),
    ],
)
def test_gemini_pcm_becomes_each_format_and_voices_map(
    routed: RunningGateway,
    sim: RunningSimulator,
    key: str,
    response_format: str,
    codec: str,
    rate: int,
) -> None:
    body = {
        "model": "gemini-2.5-flash-tts",
        "input": "Converted from Gemini.",
        "voice": "onyx",
        "response_format": response_format,
    }
    status, reply, _ = post(routed, key, body)
    assert status == 200, reply
    data = audio_of(reply)
    audio = probe_pcm16(data) if response_format == "pcm16" else probe(data)
    assert (audio.codec, audio.sample_rate) == (codec, rate)
    assert audio.peak > 0.05
    voice = sim.requests()[-1]["body"]["generationConfig"]["speechConfig"]["voiceConfig"]
    assert voice["prebuiltVoiceConfig"]["voiceName"] == "Charon"


def test_native_gemini_voices_pass_through(
    routed: RunningGateway, sim: RunningSimulator, key: str
) -> None:
    status, _, _ = post(
        routed, key, {"model": "gemini-2.5-flash-tts", "input": "Hi.", "voice": "Sulafat"}
    )
    assert status == 200
    voice = sim.requests()[-1]["body"]["generationConfig"]["speechConfig"]["voiceConfig"]
    assert voice["prebuiltVoiceConfig"]["voiceName"] == "Sulafat"


def espeak_free_wav(routed: RunningGateway, key: str, text: str) -> str:
    _, reply, _ = post(routed, key, {"model": "local-tts", "input": text, "response_format": "wav"})
    return "data:audio/wav;base64," + reply["data"]["audio_base64"]


def test_transcription_upload_fails_over_to_the_local_model(
    routed: RunningGateway, sim: RunningSimulator, key: str
) -> None:
    audio = espeak_free_wav(routed, key, "Please send the quarterly report to the finance team.")
    status, served, _ = post(routed, key, {"model": "whisper-1", "input": audio})
    assert status == 200 and "quarterly report" in served["data"]["text"].lower()
    assert sim.requests()[-1]["path"] == "/v1/audio/transcriptions"
    sim.queue_faults(PRIMARY, {"kind": "503"})
    status, failed_over, request_id = post(routed, key, {"model": "whisper-1", "input": audio})
    assert status == 200, failed_over
    assert "quarterly report" in failed_over["data"]["text"].lower()
    record = usage_record(routed, key, request_id)
    assert record["route"] == "local/whisper-base"
    assert [a["status"] for a in record["attempts"]] == ["503", "ok"]


def test_a_failing_route_cools_down_and_is_probed_back(
    tmp_path: Path, sim: RunningSimulator
) -> None:
    sim.reset()
    # A cooldown long enough for a busy machine to make the third request inside it.
    cooldown = 4.0
    env = provider_env(
        sim, VOXGATE_BREAKER_THRESHOLD="2", VOXGATE_BREAKER_COOLDOWN_SECONDS=str(cooldown)
    )
    process, gateway = start_gateway(tmp_path, env)
    try:
        key = gateway.new_workspace("breaker", "5.00")
        sim.queue_faults(PRIMARY, {"kind": "500"}, {"kind": "500"})
        for _ in range(2):
            assert post(gateway, key, SPEECH)[0] == 200
        opened = time.monotonic()
        status, _, request_id = post(gateway, key, SPEECH)
        assert status == 200
        record = usage_record(gateway, key, request_id)
        assert [a["status"] for a in record["attempts"]] == ["skipped", "ok"], record["attempts"]
        # Until the cooldown ends the route is skipped; then one request probes it back.
        deadline = opened + cooldown + 20
        while time.monotonic() < deadline:
            status, _, request_id = post(gateway, key, SPEECH)
            record = usage_record(gateway, key, request_id)
            if record["route"] == "openai/gpt-4o-mini-tts#openai":  # probed back, and healthy
                break
        assert record["route"] == "openai/gpt-4o-mini-tts#openai"
    finally:
        stop_gateway(process)


def test_metrics_count_requests_attempts_failovers_and_credit(
    routed: RunningGateway, sim: RunningSimulator, key: str
) -> None:
    sim.queue_faults(PRIMARY, {"kind": "500"})
    status, reply, request_id = post(routed, key, SPEECH)
    assert status == 200
    usage_record(routed, key, request_id)
    httpx.get(f"{routed.base_url}/no/such/page")
    text = httpx.get(f"{routed.base_url}/metrics").text
    assert 'voxgate_requests_total{path="/api/v1/audio",status="200"}' in text
    # An id in the path counts under its route's template, not as a series of its own.
    assert 'voxgate_requests_total{path="/api/v1/usage/{request_id}",status="200"}' in text
    assert request_id not in text
    assert 'voxgate_requests_total{path="unmatched",status="404"}' in text
    assert 'voxgate_upstream_attempts_total{provider="openai",status="500"}' in text
    assert 'voxgate_failovers_total{model="gpt-4o-mini-tts"}' in text
    spent = [
        line
        for line in text.splitlines()
        if line.startswith('voxgate_credit_spent_micro_usd_total{model="gpt-4o-mini-tts"}')
    ]
    assert spent and float(spent[0].split()[-1]) >= reply["usage"]["cost_micro_usd"] > 0
    assert "voxgate_holds_open 0" in text
    # Label order is the exporter's to choose: Prometheus's own parser reads the histogram.
    buckets = {
        sample.labels["path"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "voxgate_request_seconds_bucket" and sample.labels["le"] == "+Inf"
    }
    assert "/api/v1/audio" in buckets


def test_gemini_speech_reaches_the_client_as_gemini_streams_it(
    routed: RunningGateway, sim: RunningSimulator, key: str
) -> None:
    # Gemini sends its first chunk, then holds the rest back longer than the test waits: audio
    # that reaches the client at all went out while Gemini was still sending. Judged by that
    # order, not by gaps between arrivals, which a loaded machine merges into one read.
    held_back_ms, wait_seconds = 120_000, 15
    sim.queue_faults(
        GEMINI, {"kind": "paced", "first_chunk_ms": 100, "chunk_interval_ms": held_back_ms}
    )
    body = {
        "model": "gemini-2.5-flash-tts",
        "input": "One, two, three, four, five, six.",
        "voice": "Kore",
        "response_format": "pcm",
    }
    with (
        routed.client(key) as client,
        client.stream("POST", "/v1/audio/speech", json=body, timeout=wait_seconds) as response,
    ):
        assert response.status_code == 200, response.read()
        assert next(chunk for chunk in response.iter_raw() if chunk)
    [call] = sim.requests()
    assert call["path"] == "/v1beta/models/gemini-2.5-flash-preview-tts:streamGenerateContent"
    assert call["query"] == "alt=sse"
