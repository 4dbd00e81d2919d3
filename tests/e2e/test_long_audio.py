"""A recording past OpenAI's 25 MB goes to `whisper-1` on the simulator (which refuses more, as
OpenAI does) in pieces cut at its silences, and comes back as one answer charged once."""

import io
import math
import secrets
from collections.abc import Iterator
from itertools import pairwise

import av
import numpy as np
import openai
import pytest
from openai.types.audio import TranscriptionVerbose

from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway
from voxgate.simulator.engine import FAST_TRANSCRIPT

RATE = 16_000
SECONDS = 2 * 3600
SILENCE_SECONDS = 2.0
BIT_RATE = 32_000  # two hours of it is 28.8 MB
OPENAI_LIMIT = 25 * 1024 * 1024
PHRASE = "The quarterly numbers are in, and the team would like a word about the budget."


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = tmp_path_factory.mktemp("long-audio")
    # The simulator reads and decodes 13 minutes of WAV a piece, three at once, on a busy machine.
    with routed_gateway(
        root,
        VOXGATE_MAX_AUDIO_SECONDS=str(SECONDS + 60),
        VOXGATE_UPSTREAM_TIMEOUT_SECONDS="120",
    ) as served:
        yield served


def spoken(client: openai.OpenAI) -> np.ndarray:
    """The phrase as the gateway's local engine says it, at 16 kHz."""
    pcm = client.audio.speech.create(
        model="local-tts", voice="alloy", input=PHRASE, response_format="pcm"
    ).content
    frame = av.AudioFrame.from_ndarray(
        np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = 24_000
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    parts = [*resampler.resample(frame), *resampler.resample(None)]
    return np.concatenate([part.to_ndarray().reshape(-1) for part in parts])


def mp3_frames(samples: np.ndarray) -> tuple[bytes, int]:
    """The samples as bare MP3 frames (no header, so copies of them play one after another)
    and the number of samples they decode to."""
    codec = av.CodecContext.create("libmp3lame", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.sample_rate, codec.layout, codec.format = RATE, "mono", "s16p"
    codec.bit_rate = BIT_RATE
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16p", layout="mono")
    frame.sample_rate = RATE
    packets = [*codec.encode(frame), *codec.encode(None)]
    return b"".join(bytes(packet) for packet in packets), len(packets) * codec.frame_size


def test_a_two_hour_mp3_transcribes_through_whisper_1_in_pieces_charged_once(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    key = gateway.new_workspace(f"long-{secrets.token_hex(4)}", "5.00")
    client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)
    speech = spoken(client)
    unit = np.concatenate([speech, np.zeros(round(SILENCE_SECONDS * RATE), dtype="<i2")])
    frames, period_samples = mp3_frames(unit)
    period, speech_end = period_samples / RATE, len(speech) / RATE
    recording = frames * math.ceil(SECONDS / period)
    assert len(recording) > OPENAI_LIMIT
    sim.reset()
    before = balance(gateway, key)

    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1",
        file=("meeting.mp3", io.BytesIO(recording), "audio/mpeg"),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )

    verbose = TranscriptionVerbose.model_validate(raw.http_response.json())
    duration = math.ceil(SECONDS / period) * period
    assert verbose.duration == pytest.approx(duration, abs=1)
    sent = [r for r in sim.requests() if r["path"].endswith("/audio/transcriptions")]
    # Each piece as long as fits in 25 MB as 16 kHz WAV (819 s), less the silence sought.
    assert math.ceil(duration / 820) <= len(sent) <= math.ceil(duration / 790)
    assert all(r["body_bytes"] <= OPENAI_LIMIT for r in sent)
    # One segment a piece (the simulator's), each where its piece is in the whole.
    segments = verbose.segments or []
    assert len(segments) == len(sent)
    assert segments[0].start == 0 and segments[-1].end == pytest.approx(duration, abs=1)
    for before_cut, after_cut in pairwise(segments):
        assert after_cut.start < before_cut.end  # a small overlap
        assert before_cut.end - after_cut.start <= 2
        cut = (before_cut.end + after_cut.start) / 2
        # Cut in a silence: past the phrase's end in its period, clear of the next one.
        assert speech_end + 0.2 < cut % period < period, (cut, period, speech_end)
    words = verbose.words or []
    assert len(words) == len(sent) * len(FAST_TRANSCRIPT.split())
    assert all(a.start < b.start for a, b in pairwise(words))
    assert verbose.text == " ".join([FAST_TRANSCRIPT] * len(sent))

    with gateway.client(key) as http:
        record = http.get(f"/api/v1/usage/{raw.headers['x-request-id']}").json()
    # One attempt, charged for the whole recording once (the overlaps are the gateway's own).
    assert [(a["provider"], a["status"]) for a in record["attempts"]] == [("openai", "ok")]
    assert record["audio_milliseconds"] == pytest.approx(duration * 1000, abs=1000)
    assert record["charged_micro_usd"] == record["cost_micro_usd"] > 0
    assert before - balance(gateway, key) == record["cost_micro_usd"]

    # Asked as a stream, the stitched answer comes as OpenAI streams a whole transcript.
    events = list(
        client.audio.transcriptions.create(
            model="whisper-1",
            file=("meeting.mp3", io.BytesIO(recording), "audio/mpeg"),
            stream=True,
        )
    )
    assert events[-1].type == "transcript.text.done"
    assert events[-1].text == verbose.text


def balance(gateway: RunningGateway, key: str) -> int:
    with gateway.client(key) as http:
        value: int = http.get("/api/v1/balance").json()["balance_micro_usd"]
    return value
