"""LiveKit Agents' OpenAI `STT(use_realtime=True)` (from PyPI) with its base_url at the gateway
(issue 26): a realtime transcription session (`?intent=transcription&model=…`) giving interim
and final transcripts of a spoken sentence, on the local engine and through the relay to the
simulator."""

import re

from tests.audio_probe import word_error_rate
from tests.clients.conftest import (
    CLIENTS_PYTHON,
    SCRIPTS,
    SENTENCE,
    Served,
    needs_clients_venv,
    run_client,
    succeeded,
)
from voxgate.simulator.engine import FAST_TRANSCRIPT

pytestmark = needs_clients_venv

# Run by the clients' Python in the client scripts' folder (for outcome.py): the interim and
# final transcripts come back as one JSON line.
SCRIPT = """
import asyncio
import sys
import wave

from livekit import rtc
from livekit.agents import stt
from livekit.agents.utils import http_context
from livekit.plugins.openai import STT
from outcome import run

MODEL = sys.argv[1]
FINAL_SECONDS = 90


def frames(path):
    with wave.open(path, "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        pcm = wav.readframes(wav.getnframes()) + bytes(2 * rate * 2)
    step = rate // 10 * 2 * channels
    for start in range(0, len(pcm), step):
        data = pcm[start : start + step]
        yield rtc.AudioFrame(data, rate, channels, len(data) // (2 * channels))


async def transcribe(config):
    interim, final, errors = [], [], []
    async with http_context.open():
        model = STT(
            model=MODEL, use_realtime=True, base_url=config["base_url"], api_key=config["api_key"]
        )
        stream = model.stream()
        for frame in frames(config["wav_path"]):
            stream.push_frame(frame)

        async def read():
            async for event in stream:
                if event.type == stt.SpeechEventType.INTERIM_TRANSCRIPT:
                    interim.append(event.alternatives[0].text)
                elif event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                    final.append(event.alternatives[0].text)
                    return

        try:
            await asyncio.wait_for(read(), FINAL_SECONDS)
        finally:
            await stream.aclose()
            await model.aclose()
    return {"interim": interim, "final": final, "errors": errors}


run({"transcribe": transcribe})
"""


def transcripts(served: Served, model: str) -> tuple[list[str], str]:
    results = run_client([str(CLIENTS_PYTHON), "-c", SCRIPT, model], served, SCRIPTS)
    answer = succeeded(results, "transcribe")
    [final] = answer["final"]
    return answer["interim"], final


def test_interim_and_final_transcripts_on_the_local_engine(served: Served) -> None:
    interim, final = transcripts(served, "local-whisper-tiny-en")
    assert word_error_rate(SENTENCE, final) <= 0.25, final
    assert interim, "no interim transcript before the final one"
    # Heard from the first part of the sentence only: some of its words, not all of them.
    assert words(interim[0]) & words(SENTENCE), (interim, final)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_interim_and_final_transcripts_through_the_relay(served: Served) -> None:
    # gpt-4o-mini-transcribe is whisper-1's alias, routed to OpenAI (here the simulator).
    interim, final = transcripts(served, "gpt-4o-mini-transcribe")
    assert final == FAST_TRANSCRIPT
    assert interim and FAST_TRANSCRIPT.startswith(interim[0]), interim
