"""Pipecat's OpenAIRealtimeSTTService (from PyPI) at the gateway (issue 26): a transcription
session opened with `?intent=transcription` and no model (the model comes in its
`session.update`), giving interim and final transcripts of a spoken sentence with server VAD,
on the local engine and through the relay to the simulator, without an error frame."""

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


def transcripts(served: Served, model: str) -> tuple[list[str], str]:
    script = str(SCRIPTS / "pipecat_realtime_stt.py")
    answer = succeeded(
        run_client([str(CLIENTS_PYTHON), script, model], served, SCRIPTS), "transcribe"
    )
    assert answer["errors"] == []
    [final] = answer["final"]
    return answer["interim"], final


def test_interim_and_final_transcripts_on_the_local_engine(served: Served) -> None:
    interim, final = transcripts(served, "local-whisper-tiny-en")
    assert word_error_rate(SENTENCE, final) <= 0.25, final
    # Heard from the first part of the sentence only: some of its words.
    heard = set(re.findall(r"[a-z]+", " ".join(interim).lower()))
    assert heard & set(re.findall(r"[a-z]+", SENTENCE.lower())), (interim, final)


def test_interim_and_final_transcripts_through_the_relay(served: Served) -> None:
    # gpt-4o-mini-transcribe is whisper-1's alias, routed to OpenAI (here the simulator).
    interim, final = transcripts(served, "gpt-4o-mini-transcribe")
    assert final == FAST_TRANSCRIPT
    assert interim and FAST_TRANSCRIPT.startswith(interim[0]), interim
