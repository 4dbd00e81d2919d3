"""Work stops when the request stops: a transcription past its deadline frees the engine."""

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_process import RunningGateway, routed_gateway
from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio

PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. Please send the quarterly report to the "
    "finance team by Friday. She bought three apples, two oranges and a loaf of bread."
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One engine worker and no queue: a second job is refused while the first holds it."""
    with routed_gateway(
        Path(tmp_path_factory.mktemp("engine")),
        VOXGATE_ENGINE_WORKERS="1",
        VOXGATE_ENGINE_QUEUE_SIZE="0",
        VOXGATE_REQUEST_DEADLINE_SECONDS="8",
        VOXGATE_UPSTREAM_TIMEOUT_SECONDS="8",
    ) as (running, _):
        yield running


def long_speech(gateway: RunningGateway) -> str:
    """About three minutes of speech as base64 WAV: far past the deadline for whisper-base."""
    with gateway.client() as client:
        spoken = client.post(
            "/api/v1/audio",
            json={"model": "local-tts", "input": PARAGRAPH, "response_format": "pcm16"},
        )
    assert spoken.status_code == 200, spoken.text
    samples = base64.b64decode(spoken.json()["data"]["audio_base64"])
    return base64.b64encode(encode(PcmAudio(samples * 20, 24_000), "wav")).decode()


def test_a_transcription_past_its_deadline_frees_the_engine(gateway: RunningGateway) -> None:
    audio = long_speech(gateway)
    with gateway.client() as client:
        late = client.post("/api/v1/audio", json={"model": "local-whisper-base", "input": audio})
        assert late.status_code in {503, 504}, late.text
        # The next request must not find the engine busy with the abandoned job.
        after = client.post(
            "/api/v1/audio",
            json={"model": "local-tts", "input": "Next.", "response_format": "pcm16"},
        )
    assert after.status_code == 200, after.text  # not 503: the local engine is busy
