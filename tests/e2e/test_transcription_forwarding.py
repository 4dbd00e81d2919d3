"""Transcription as OpenAI takes it, seen from both ends with the official `openai` client: the
upload reaches the provider in its own container with every parameter the client set, and
what the provider answered (words, logprobs, fields the gateway does not know) reaches the
client, judged by the package's own `Transcription` / `TranscriptionVerbose` models."""

import base64
import io
import secrets
from collections.abc import Iterator

import av
import numpy as np
import openai
import pytest
from openai.types.audio import (
    Transcription,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionVerbose,
)

from tests.audio_probe import probe
from tests.e2e.fake_openai_transcriptions import (
    LOGPROBS,
    NEW_FIELD,
    SEGMENT,
    TEXT,
    WORDS,
    FakeOpenAI,
    fake_openai,
)
from tests.gateway_process import RunningGateway, routed_gateway

# name → (PyAV container, codec, sample rate, the file name the provider should see)
CONTAINERS = {
    "mp3": ("mp3", "libmp3lame", 24_000, "audio.mp3"),
    "ogg": ("ogg", "libopus", 48_000, "audio.ogg"),
    "flac": ("flac", "flac", 16_000, "audio.flac"),
    "m4a": ("mp4", "aac", 24_000, "audio.m4a"),
    "webm": ("webm", "libopus", 48_000, "audio.webm"),
    "wav": ("wav", "pcm_s16le", 44_100, "audio.wav"),
}


def tone_file(container: str, codec: str, rate: int, seconds: float, bit_rate: int = 0) -> bytes:
    """A few rising tones encoded as a client's recorder would: `seconds` long, mono."""
    t = np.arange(int(rate * seconds)) / rate
    pitch = 220 + 110 * (t % 3)
    samples = (np.sin(2 * np.pi * pitch * t) * 8000).astype("<i2").reshape(1, -1)
    out = io.BytesIO()
    with av.open(out, "w", format=container) as target:
        stream = target.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        if bit_rate:
            stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for part in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(part):
                target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return out.getvalue()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAI) -> Iterator[RunningGateway]:
    root = tmp_path_factory.mktemp("forwarding")
    with routed_gateway(root, OPENAI_BASE_URL=fake.base_url) as (running, _):
        yield running


@pytest.fixture
def client(gateway: RunningGateway, fake: FakeOpenAI) -> openai.OpenAI:
    fake.uploads.clear()
    fake.failures.clear()
    key = gateway.new_workspace(f"stt-{secrets.token_hex(4)}", "5.00")
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def mp3() -> bytes:
    return tone_file("mp3", "libmp3lame", 24_000, 3.0)


def test_words_come_back_on_whisper_1(client: openai.OpenAI, fake: FakeOpenAI, mp3: bytes) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1",
        file=("speech.mp3", mp3, "audio/mpeg"),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    answer = raw.http_response.json()
    verbose = TranscriptionVerbose.model_validate(answer)
    assert [w.model_dump() for w in verbose.words or []] == WORDS
    assert verbose.segments is not None and verbose.segments[0].model_dump() == SEGMENT
    assert verbose.text == TEXT and verbose.language == "english"
    assert answer[NEW_FIELD] is True
    (upload,) = fake.uploads
    assert upload.values("timestamp_granularities[]") == ["word", "segment"]
    assert upload.values("response_format") == ["verbose_json"]


def test_every_parameter_is_forwarded_as_sent(
    client: openai.OpenAI, fake: FakeOpenAI, mp3: bytes
) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1",
        file=("speech.mp3", mp3, "audio/mpeg"),
        language="en",
        prompt="Foxes and dogs.",
        temperature=0.3,
        include=["logprobs"],
        chunking_strategy={"type": "server_vad", "threshold": 0.4, "silence_duration_ms": 300},
        response_format="json",
    )
    answer = raw.http_response.json()
    transcription = Transcription.model_validate(answer)
    assert transcription.text == TEXT
    assert [p.model_dump() for p in transcription.logprobs or []] == LOGPROBS
    assert answer[NEW_FIELD] is True
    (upload,) = fake.uploads
    sent = dict(upload.fields)
    assert sent["model"] == "whisper-1" and sent["language"] == "en"
    assert sent["prompt"] == "Foxes and dogs." and float(sent["temperature"]) == 0.3
    assert upload.values("include[]") == ["logprobs"]
    assert sent["chunking_strategy[type]"] == "server_vad"
    assert float(sent["chunking_strategy[threshold]"]) == 0.4
    assert sent["chunking_strategy[silence_duration_ms]"] == "300"
    assert sent["response_format"] == "json"


def test_chunking_strategy_auto_is_forwarded(
    client: openai.OpenAI, fake: FakeOpenAI, mp3: bytes
) -> None:
    client.audio.transcriptions.create(
        model="whisper-1", file=("speech.mp3", mp3, "audio/mpeg"), chunking_strategy="auto"
    )
    assert fake.uploads[0].values("chunking_strategy") == ["auto"]


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_the_upload_goes_upstream_in_its_own_container(
    client: openai.OpenAI, fake: FakeOpenAI, name: str
) -> None:
    container, codec, rate, filename = CONTAINERS[name]
    audio = tone_file(container, codec, rate, 2.0)
    result = client.audio.transcriptions.create(
        model="whisper-1", file=(f"clip.{name}", audio, "application/octet-stream")
    )
    assert result.text == TEXT
    (upload,) = fake.uploads
    assert upload.file == audio  # byte for byte: not decoded and re-encoded
    assert upload.filename == filename


def test_a_container_the_provider_does_not_take_goes_compactly(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    """ADTS AAC is not among OpenAI's containers: re-encoded, but mono at 16 kHz."""
    audio = tone_file("adts", "aac", 48_000, 2.0)
    client.audio.transcriptions.create(model="whisper-1", file=("clip.aac", audio, "audio/aac"))
    (upload,) = fake.uploads
    sent = probe(upload.file)
    assert upload.filename == "audio.wav" and sent.container == "wav"
    assert sent.sample_rate == 16_000 and sent.duration_seconds == pytest.approx(2.0, abs=0.1)
    with av.open(io.BytesIO(upload.file)) as media:
        assert media.streams.audio[0].codec_context.channels == 1


def test_a_ten_minute_mp3_goes_as_it_is(
    client: openai.OpenAI, fake: FakeOpenAI, gateway: RunningGateway
) -> None:
    """The fake refuses uploads over 25 MB as OpenAI does; decoded to 24 kHz WAV this would be
    28.8 MB."""
    audio = tone_file("mp3", "libmp3lame", 24_000, 600.0, bit_rate=64_000)
    assert 4_500_000 < len(audio) < 5_200_000
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("long.mp3", audio, "audio/mpeg")
    )
    assert Transcription.model_validate(raw.http_response.json()).text == TEXT
    assert [len(upload.file) for upload in fake.uploads] == [len(audio)]
    with gateway.client(client.api_key) as http:
        record = http.get(f"/api/v1/usage/{raw.headers['x-request-id']}").json()
    assert [attempt["status"] for attempt in record["attempts"]] == ["ok"]
    assert record["audio_milliseconds"] == pytest.approx(600_000, abs=500)


def test_a_size_refusal_moves_on_to_the_local_route(
    client: openai.OpenAI, fake: FakeOpenAI, gateway: RunningGateway, mp3: bytes
) -> None:
    fake.failures.append(413)
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("speech.mp3", mp3, "audio/mpeg")
    )
    assert raw.http_response.status_code == 200
    with gateway.client(client.api_key) as http:
        record = http.get(f"/api/v1/usage/{raw.headers['x-request-id']}").json()
    routes = [(attempt["provider"], attempt["status"]) for attempt in record["attempts"]]
    assert routes == [("openai", "413"), ("local", "ok")], record["attempts"]


@pytest.mark.parametrize("model", ["local-whisper-tiny-en", "gpt-audio-1.5"])
@pytest.mark.parametrize(
    ("parameter", "value"),
    [("temperature", 0.2), ("include", ["logprobs"]), ("chunking_strategy", "auto")],
)
def test_a_parameter_no_route_takes_is_400_naming_it(
    client: openai.OpenAI, fake: FakeOpenAI, mp3: bytes, model: str, parameter: str, value: object
) -> None:
    """The local engine takes none of these; gpt-audio-1.5 transcribes through chat."""
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(  # type: ignore[call-overload]
            model=model, file=("speech.mp3", mp3, "audio/mpeg"), **{parameter: value}
        )
    error = refused.value.body
    assert isinstance(error, dict)
    assert error["param"] == ("include[]" if parameter == "include" else parameter)
    assert error["code"] == "unsupported_parameter" and model in error["message"]
    assert fake.uploads == []


@pytest.mark.parametrize(
    ("parameter", "value", "param"),
    [
        ("temperature", 1.5, "temperature"),
        ("include", ["everything"], "include[]"),
        ("chunking_strategy", {"type": "fixed"}, "chunking_strategy"),
    ],
)
def test_a_bad_value_is_400_naming_it_before_any_upload(
    client: openai.OpenAI, fake: FakeOpenAI, mp3: bytes, parameter: str, value: object, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(  # type: ignore[call-overload]
            model="whisper-1", file=("speech.mp3", mp3, "audio/mpeg"), **{parameter: value}
        )
    assert isinstance(refused.value.body, dict) and refused.value.body["param"] == param
    assert fake.uploads == []


def test_a_truncated_wav_is_400_naming_file(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    cut = tone_file("wav", "pcm_s16le", 16_000, 1.0)[:100]
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(model="whisper-1", file=("cut.wav", cut, "audio/wav"))
    assert isinstance(refused.value.body, dict) and refused.value.body["param"] == "file"
    assert fake.uploads == []


def test_a_streamed_transcription_on_whisper_1_carries_the_text(
    client: openai.OpenAI, fake: FakeOpenAI, mp3: bytes
) -> None:
    """OpenAI's json answer has no segments: the text still reaches the client as deltas."""
    events = list(
        client.audio.transcriptions.create(
            model="whisper-1", file=("speech.mp3", mp3, "audio/mpeg"), stream=True
        )
    )
    deltas = [e for e in events if isinstance(e, TranscriptionTextDeltaEvent)]
    (done,) = [e for e in events if isinstance(e, TranscriptionTextDoneEvent)]
    assert "".join(d.delta for d in deltas).strip() == TEXT == done.text
    assert fake.uploads[0].values("response_format") == ["json"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    # The simulator decodes all ten minutes before it answers: more than the 3 s routed_gateway
    # allows an upstream on a busy machine.
    root = tmp_path_factory.mktemp("simulated-openai")
    with routed_gateway(root, VOXGATE_UPSTREAM_TIMEOUT_SECONDS="60") as (running, _):
        yield running


def test_a_ten_minute_mp3_transcribes_through_whisper_1_on_the_simulator(
    simulated: RunningGateway,
) -> None:
    """The simulator enforces OpenAI's 25 MB as OpenAI does (413)."""
    key = simulated.new_workspace(f"long-{secrets.token_hex(4)}", "5.00")
    client = openai.OpenAI(base_url=f"{simulated.base_url}/v1", api_key=key, max_retries=0)
    audio = tone_file("mp3", "libmp3lame", 24_000, 600.0, bit_rate=64_000)
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("long.mp3", audio, "audio/mpeg"), response_format="verbose_json"
    )
    verbose = TranscriptionVerbose.model_validate(raw.http_response.json())
    assert verbose.duration == pytest.approx(600, abs=0.5)
    with simulated.client(key) as http:
        record = http.get(f"/api/v1/usage/{raw.headers['x-request-id']}").json()
    assert [(a["provider"], a["status"]) for a in record["attempts"]] == [("openai", "ok")]


def test_gpt_audio_1_5_still_transcribes_with_the_formats_every_route_serves(
    client: openai.OpenAI, mp3: bytes
) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(
        model="gpt-audio-1.5", file=("speech.mp3", mp3, "audio/mpeg"), response_format="json"
    )
    assert Transcription.model_validate(raw.http_response.json()).text


def test_the_unified_endpoint_sends_the_file_as_it_came_too(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI, mp3: bytes
) -> None:
    value = "data:audio/mpeg;base64," + base64.b64encode(mp3).decode()
    with gateway.client(client.api_key) as http:
        response = http.post("/api/v1/audio", json={"model": "whisper-1", "input": value})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["text"] == TEXT
    (upload,) = fake.uploads
    assert upload.file == mp3 and upload.filename == "audio.mp3"
