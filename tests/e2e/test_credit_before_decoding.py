"""Audio costs the gateway CPU and memory to open: a workspace that cannot pay the model's
minimum hold is refused before its audio is decoded (measured as the gateway's CPU time)."""

import asyncio
import io
import secrets
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from tests.gateway_process import RunningGateway, start_gateway, stop_gateway

REQUESTS = 5


@pytest.fixture(scope="module")
def gateway_and_pid(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, int]]:
    env = {"VOXGATE_ENGINE_PRELOAD": "false"}
    process, running = start_gateway(Path(tmp_path_factory.mktemp("credit-first")), env)
    yield running, process.pid
    stop_gateway(process)


def long_flac(seconds: int = 600, rate: int = 16_000) -> bytes:
    """Ten minutes of a tone: small as FLAC, costly to decode and resample."""
    samples = (np.sin(np.arange(seconds * rate) * 2 * np.pi * 440 / rate) * 8_000).astype("<i2")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user, system = int(fields[11]), int(fields[12])
    return (user + system) / 100  # clock ticks; 100 per second on Linux


def test_a_workspace_with_no_credit_is_refused_before_its_audio_is_decoded(
    gateway_and_pid: tuple[RunningGateway, int],
) -> None:
    gateway, pid = gateway_and_pid
    audio = long_flac()
    broke = gateway.new_workspace(f"broke-{secrets.token_hex(4)}", "0.00")
    funded = gateway.new_workspace(f"funded-{secrets.token_hex(4)}", "0.0005")
    files = {"file": ("long.flac", audio, "audio/flac")}
    form = {"model": "local-whisper-tiny-en"}
    with gateway.client(funded) as client:
        # The same upload from a workspace that can hold the minimum is decoded, then refused
        # for the full hold: the baseline of what decoding costs.
        started = cpu_seconds(pid)
        response = client.post("/v1/audio/transcriptions", files=files, data=form)
        assert response.status_code == 402, response.text
        decoding = cpu_seconds(pid) - started
    with gateway.client(broke) as client:
        started = cpu_seconds(pid)
        for _ in range(REQUESTS):
            response = client.post("/v1/audio/transcriptions", files=files, data=form)
            assert response.status_code == 402, response.text
            error = response.json()["error"]
            assert error["code"] == "insufficient_credit"
            assert "available" in error["message"]
        refusing = cpu_seconds(pid) - started
    assert refusing < decoding, (refusing, decoding)


def test_concurrent_uploads_decode_only_what_the_workspace_holds(
    gateway_and_pid: tuple[RunningGateway, int],
) -> None:
    """The minimum hold is placed, not just checked, before decoding: a workspace that can hold
    it once cannot have its audio decoded several times at once."""
    gateway, pid = gateway_and_pid
    audio = long_flac()
    files = {"file": ("long.flac", audio, "audio/flac")}
    form = {"model": "local-whisper-tiny-en"}
    # local-whisper-tiny-en's minimum hold, once. The second of two lone uploads is the
    # baseline: one decode, the gateway warm.
    for _ in range(2):
        once = gateway.new_workspace(f"once-{secrets.token_hex(4)}", "0.0001")
        with gateway.client(once) as client:
            started = cpu_seconds(pid)
            response = client.post("/v1/audio/transcriptions", files=files, data=form)
            decoding = cpu_seconds(pid) - started
        assert response.status_code == 402  # decoded, then refused for the whole hold

    async def upload_at_once() -> list[int]:
        headers = {"Authorization": f"Bearer {once}"}
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=120) as client:
            responses = await asyncio.gather(
                *(
                    client.post("/v1/audio/transcriptions", files=files, data=form, headers=headers)
                    for _ in range(REQUESTS)
                )
            )
        return [response.status_code for response in responses]

    started = cpu_seconds(pid)
    statuses = asyncio.run(upload_at_once())
    concurrent = cpu_seconds(pid) - started
    assert statuses == [402] * REQUESTS
    # Before, every upload was decoded: REQUESTS times the one decode and more.
    assert concurrent < 3 * decoding, (concurrent, decoding)
