"""A transcription session's settings and its upstream URL: what OpenAI's and Azure's realtime
transcription take, and refusals that name the field."""

import pytest

from voxgate.errors import InvalidRequestError
from voxgate.gateway.realtime.dialect import BETA, GA
from voxgate.gateway.realtime.transcription_config import TranscriptionConfig, ga_settings
from voxgate.providers.realtime import transcription_url

BASE = TranscriptionConfig(id="sess_1", model="whisper-1")


def test_ga_and_beta_settings_read_the_same() -> None:
    ga = BASE.updated(
        {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "local-whisper-tiny-en", "language": "en"},
                    "turn_detection": None,
                }
            },
        },
        beta=False,
    )
    beta = BASE.updated(
        {
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": "local-whisper-tiny-en", "language": "en"},
            "turn_detection": None,
        },
        beta=True,
    )
    assert ga == beta
    assert ga.model == "local-whisper-tiny-en" and ga.turn_detection is None
    assert ga.view(GA)["audio"]["input"]["transcription"]["language"] == "en"
    assert beta.view(BETA)["input_audio_transcription"]["model"] == "local-whisper-tiny-en"
    # A minted secret stores the GA settings, which read back to the same config.
    assert BASE.updated(ga_settings(ga), beta=False) == ga


@pytest.mark.parametrize(
    ("update", "beta", "param"),
    [
        ({"type": "realtime"}, False, "session.type"),
        ({"instructions": "x"}, False, "session.instructions"),
        ({"audio": {"output": {}}}, False, "session.audio.output"),
        (
            {"audio": {"input": {"format": {"type": "audio/pcmu"}}}},
            False,
            "session.audio.input.format",
        ),
        (
            {"audio": {"input": {"transcription": {"model": 3}}}},
            False,
            "session.audio.input.transcription.model",
        ),
        ({"voice": "alloy"}, True, "session.voice"),
        (
            {"input_audio_noise_reduction": {"type": "loud"}},
            True,
            "session.input_audio_noise_reduction.type",
        ),
    ],
)
def test_a_setting_the_session_cannot_take_is_refused_by_name(
    update: dict[str, object], beta: bool, param: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        BASE.updated(update, beta=beta)
    assert refused.value.param == param


def test_upstream_url_asks_for_transcription_and_keeps_a_deployment() -> None:
    assert (
        transcription_url("wss://api.example/v1/realtime?model=whisper-1")
        == "wss://api.example/v1/realtime?intent=transcription"
    )
    assert transcription_url(
        "wss://r.example/openai/realtime?api-version=2025-04-01-preview&deployment=stt"
    ) == (
        "wss://r.example/openai/realtime?api-version=2025-04-01-preview&deployment=stt"
        "&intent=transcription"
    )
