"""The embedded engine's figures for the summary table: real-time factors, time to the first
streamed byte, and throughput with 4 concurrent requests through the gateway."""

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.gateway_process import start_gateway, stop_gateway

from bench.engine import TINY, speech_rows, spoken_clips, transcription_row
from bench.load import run_load
from bench.streaming import first_and_last_byte
from voxgate.providers.local.engine import LocalEngine
from voxgate.providers.local.speech import LocalSpeech
from voxgate.providers.local.transcription import LocalTranscription
from voxgate.settings import Settings

CONCURRENT = 4
CONCURRENT_REQUESTS = 16
SENTENCE = "Please send the quarterly report to the finance team by Friday."


@dataclass(frozen=True)
class EngineFigures:
    speech_rtf: float
    transcription_rtf: float
    first_byte_ms: float
    last_byte_ms: float
    concurrent_rps: float
    concurrent_p50_ms: float


def measure_engine() -> EngineFigures:
    speech_rtf, transcription_rtf = asyncio.run(_real_time_factors())
    with tempfile.TemporaryDirectory() as directory:
        process, gateway = start_gateway(Path(directory))
        try:
            first, last = first_and_last_byte(gateway)
            body = {"model": "local-tts", "input": SENTENCE, "response_format": "pcm16"}
            headers = {"Authorization": f"Bearer {gateway.key}"}
            url = f"{gateway.base_url}/api/v1/audio"
            asyncio.run(run_load(url, body, headers, requests=CONCURRENT, concurrency=CONCURRENT))
            load = asyncio.run(
                run_load(url, body, headers, requests=CONCURRENT_REQUESTS, concurrency=CONCURRENT)
            )
        finally:
            stop_gateway(process)
    assert load.failures == 0
    return EngineFigures(
        speech_rtf, transcription_rtf, first * 1000, last * 1000, load.rps, load.p50_ms
    )


async def _real_time_factors() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        engine = LocalEngine(Settings(data_dir=Path(data_dir)))
        try:
            await engine.preload()
            speech = LocalSpeech(engine)
            rows, audio = await speech_rows(speech)
            clip = (await spoken_clips(speech, audio))[0]
            heard = await transcription_row(LocalTranscription(engine), TINY, clip)
        finally:
            await engine.aclose()
    spoken = rows[0]
    return (
        spoken.took_seconds / spoken.audio_seconds,
        heard.took_seconds / heard.audio_seconds,
    )
