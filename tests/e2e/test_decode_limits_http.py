"""Audio past the decode limits is a 400 naming the field, answered from its header for a few
CPU milliseconds of the gateway's (six such FLACs once took 169 CPU-seconds and stalled another
tenant's transcription for 168 s)."""

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.audio.test_decode_limits import flac
from tests.e2e.test_credit_before_decoding import cpu_seconds
from tests.gateway_process import RunningGateway, start_gateway, stop_gateway

MODEL = "local-whisper-tiny-en"


@pytest.fixture(scope="module")
def gateway_and_pid(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, int]]:
    env = {"VOXGATE_ENGINE_PRELOAD": "false"}
    process, running = start_gateway(Path(tmp_path_factory.mktemp("decode-limits")), env)
    with running.client() as client:
        # The first request loads the tokenizer (half a CPU-second): not what is measured.
        transcribe(client, b"not audio")
    yield running, process.pid
    stop_gateway(process)


@pytest.fixture(scope="module")
def attack() -> bytes:
    return flac(384_000, 8, 60)


def transcribe(client: httpx.Client, audio: bytes) -> httpx.Response:
    files = {"file": ("attack.flac", audio, "audio/flac")}
    return client.post("/v1/audio/transcriptions", files=files, data={"model": MODEL})


def unified(client: httpx.Client, audio: bytes) -> httpx.Response:
    value = "data:audio/flac;base64," + base64.b64encode(audio).decode()
    return client.post("/api/v1/audio", json={"model": MODEL, "input": value})


@pytest.mark.parametrize(("send", "param"), [(transcribe, "file"), (unified, "input")])
def test_eight_channels_at_384_khz_are_a_cheap_400_naming_the_field(
    gateway_and_pid: tuple[RunningGateway, int], attack: bytes, send: object, param: str
) -> None:
    gateway, pid = gateway_and_pid
    key = gateway.new_workspace(f"decode-{secrets.token_hex(4)}", "5.00")
    assert callable(send)
    with gateway.client(key) as client:
        started = cpu_seconds(pid)
        response = send(client, attack)
        spent = cpu_seconds(pid) - started
        balance = client.get("/api/v1/balance").json()
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["code"] == "invalid_audio"
    assert "384000 Hz" in error["message"]
    # Unlimited, this file alone cost about a CPU-second to decode before any model ran.
    assert spent < 0.3, spent
    assert balance["held_micro_usd"] == 0 and balance["balance_micro_usd"] == 5_000_000
