"""Gemini's transcription adapter against the simulator over a socket: the client's file goes
inline in its own container when Gemini documents it, and any other as the decoded 16 kHz WAV
(it used to be re-encoded as 24 kHz WAV whatever it was)."""

import asyncio
import base64
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from tests.audio_probe import probe
from tests.e2e.test_transcription_forwarding import tone_file
from tests.gateway_process import SIM_KEYS, RunningSimulator, start_simulator, stop_gateway
from voxgate.audio.decode import decode
from voxgate.gateway.inputs import container_of
from voxgate.providers.gemini import GeminiProvider
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.protocols import TranscriptionRequest, Upstream


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    process, running = start_simulator(tmp_path_factory.mktemp("gemini-stt"), fast=True)
    yield running
    stop_gateway(process)


def sent_inline(sim: RunningSimulator, upload: bytes) -> dict[str, str]:
    """Transcribe `upload` through the adapter; the inline audio part the simulator received."""
    request = TranscriptionRequest(
        audio=decode(upload, sample_rate=16_000, max_seconds=60),
        upload=upload,
        container=container_of(upload),
    )
    upstream = Upstream(
        model="gemini-2.5-flash", base_url=sim.base_url, credential=SecretStr(SIM_KEYS["gemini"])
    )

    async def transcribe() -> None:
        http = UpstreamHttp(timeout_seconds=30, max_response_bytes=10_000_000)
        try:
            await GeminiProvider(http).transcribe(request, upstream)
        finally:
            await http.aclose()

    sim.reset()
    asyncio.run(transcribe())
    (call,) = [r for r in sim.requests() if r["path"].endswith(":generateContent")]
    (inline,) = [p["inlineData"] for p in call["body"]["contents"][0]["parts"] if "inlineData" in p]
    return {"mimeType": inline["mimeType"], "data": inline["data"]}


@pytest.mark.parametrize(
    ("container", "codec", "rate", "mime_type"),
    [
        ("mp3", "libmp3lame", 24_000, "audio/mp3"),
        ("flac", "flac", 16_000, "audio/flac"),
        ("adts", "aac", 24_000, "audio/aac"),
        ("wav", "pcm_s16le", 44_100, "audio/wav"),
    ],
)
def test_a_container_gemini_takes_goes_as_it_is(
    sim: RunningSimulator, container: str, codec: str, rate: int, mime_type: str
) -> None:
    upload = tone_file(container, codec, rate, 2.0)
    inline = sent_inline(sim, upload)
    assert inline["mimeType"] == mime_type
    assert base64.b64decode(inline["data"]) == upload


def test_any_other_goes_as_16_khz_wav(sim: RunningSimulator) -> None:
    upload = tone_file("webm", "libopus", 48_000, 2.0)
    inline = sent_inline(sim, upload)
    sent = probe(base64.b64decode(inline["data"]))
    assert inline["mimeType"] == "audio/wav" and sent.container == "wav"
    assert sent.sample_rate == 16_000 and sent.duration_seconds == pytest.approx(2.0, abs=0.1)
