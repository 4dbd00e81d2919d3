"""The official openai package, pointed at the gateway, for every audio endpoint."""

import base64
import io
import secrets
import wave
from collections.abc import Iterator

import openai
import pytest
from openai.types.audio import TranscriptionStreamEvent
from pydantic import TypeAdapter

from tests.audio_probe import probe, probe_pcm16, word_error_rate
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway
from voxgate.settings import Settings

SENTENCE = "Please send the quarterly report to the finance team by Friday."


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(tmp_path_factory.mktemp("sdk"), fast=False) as served:
        yield served


@pytest.fixture(scope="module")
def client(served: tuple[RunningGateway, RunningSimulator]) -> openai.OpenAI:
    gateway, _ = served
    key = gateway.new_workspace(f"sdk-{secrets.token_hex(4)}", "5.00")
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def spoken(client: openai.OpenAI) -> bytes:
    return client.audio.speech.create(
        model="local-tts", voice="alloy", input=SENTENCE, response_format="wav"
    ).read()


@pytest.mark.parametrize(
    ("response_format", "codec", "rate"),
    [
        ("mp3", "mp3float", 24_000),
        ("opus", "opus", 48_000),
        ("aac", "aac", 24_000),
        ("flac", "flac", 24_000),
        ("wav", "pcm_s16le", 24_000),
        ("pcm", "pcm_s16le", 24_000),
    ],
)
def test_speech_in_every_format(
    client: openai.OpenAI, response_format: str, codec: str, rate: int
) -> None:
    audio = client.audio.speech.create(
        model="local-tts",
        voice="coral",
        input="Every format decodes.",
        response_format=response_format,  # type: ignore[arg-type]
    ).read()
    found = probe_pcm16(audio) if response_format == "pcm" else probe(audio)
    assert (found.codec, found.sample_rate) == (codec, rate)
    assert found.duration_seconds > 0.8 and found.peak > 0.05


def test_speech_streams_with_streaming_response(client: openai.OpenAI) -> None:
    text = "First sentence of the stream. Second sentence follows it. A third one ends it."
    with client.audio.speech.with_streaming_response.create(
        model="local-tts", voice="nova", input=text, response_format="mp3"
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        assert response.headers.get("transfer-encoding") == "chunked"
        pieces = list(response.iter_bytes())
    assert probe(b"".join(pieces)).duration_seconds > 3


def test_speech_as_server_sent_events(client: openai.OpenAI) -> None:
    events = (
        client.audio.speech.create(
            model="local-tts",
            voice="alloy",
            input="Events. Carry audio.",
            response_format="pcm",
            stream_format="sse",
        )
        .read()
        .decode()
    )
    payloads = [
        line.removeprefix("data: ") for line in events.splitlines() if line.startswith("data: ")
    ]
    import json

    parsed = [json.loads(p) for p in payloads]
    deltas = [e for e in parsed if e["type"] == "speech.audio.delta"]
    assert len(deltas) >= 2
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert probe_pcm16(audio).duration_seconds > 1
    done = parsed[-1]
    assert done["type"] == "speech.audio.done" and done["usage"]["input_tokens"] > 0


@pytest.mark.parametrize("response_format", ["json", "text", "srt", "vtt", "verbose_json"])
def test_transcription_in_every_format(
    client: openai.OpenAI, spoken: bytes, response_format: str
) -> None:
    result = client.audio.transcriptions.create(
        model="local-whisper-tiny-en",
        file=("speech.wav", spoken, "audio/wav"),
        response_format=response_format,  # type: ignore[call-overload]
    )
    if response_format in ("json", "verbose_json"):
        assert word_error_rate(SENTENCE, result.text) <= 0.1
    if response_format == "verbose_json":
        assert result.language == "en" and result.duration > 2
        assert result.segments and result.segments[0].end > result.segments[0].start
    if response_format == "text":
        assert word_error_rate(SENTENCE, result) <= 0.1
    if response_format == "srt":
        first = result.strip().splitlines()
        assert first[0] == "1" and " --> " in first[1] and "," in first[1]
    if response_format == "vtt":
        lines = result.strip().splitlines()
        assert lines[0] == "WEBVTT" and " --> " in lines[2] and "." in lines[2]


def test_word_timestamps_increase(client: openai.OpenAI, spoken: bytes) -> None:
    result = client.audio.transcriptions.create(
        model="local-whisper-tiny-en",
        file=("speech.wav", spoken, "audio/wav"),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert result.words is not None and len(result.words) >= 8
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and starts[-1] > starts[0]
    assert all(w.end >= w.start for w in result.words)


def test_transcription_streams_text_events(client: openai.OpenAI, spoken: bytes) -> None:
    stream = client.audio.transcriptions.create(
        model="local-whisper-tiny-en", file=("speech.wav", spoken, "audio/wav"), stream=True
    )
    events = list(stream)
    # The SDK builds stream events without checking them; its own types judge here.
    checked = TypeAdapter(TranscriptionStreamEvent)
    for streamed in events:
        checked.validate_python(streamed.to_dict())
    assert events[-1].type == "transcript.text.done"
    assert "".join(e.delta for e in events[:-1] if e.type == "transcript.text.delta").strip()
    assert word_error_rate(SENTENCE, events[-1].text) <= 0.1


def test_translation(client: openai.OpenAI, spoken: bytes) -> None:
    result = client.audio.translations.create(
        model="local-whisper-base", file=("speech.wav", spoken, "audio/wav")
    )
    assert "report" in result.text.lower()


def test_chat_with_audio_out(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-audio",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": "Is a golden retriever a good family dog?"}],
    )
    message = completion.choices[0].message
    assert message.audio is not None and message.audio.transcript
    assert probe(base64.b64decode(message.audio.data)).duration_seconds > 1
    assert message.audio.expires_at > 0
    assert completion.usage is not None
    assert completion.usage.completion_tokens_details.audio_tokens > 0


def test_chat_with_audio_in(client: openai.OpenAI, spoken: bytes) -> None:
    completion = client.chat.completions.create(
        model="gpt-audio",
        modalities=["text"],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this recording?"},
                    {
                        "type": "input_audio",
                        "input_audio": {"data": base64.b64encode(spoken).decode(), "format": "wav"},
                    },
                ],
            }
        ],
    )
    assert "quarterly report" in (completion.choices[0].message.content or "").lower()
    assert completion.usage is not None and completion.usage.prompt_tokens_details.audio_tokens > 0


def test_streamed_chat_audio(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-audio",
        modalities=["text", "audio"],
        audio={"voice": "verse", "format": "pcm16"},
        messages=[{"role": "user", "content": "Say something."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pcm, transcript, usage = b"", "", None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            audio = choice.delta.audio
            if audio is not None:
                pcm += base64.b64decode(audio.data or "")
                transcript += audio.transcript or ""
    assert probe_pcm16(pcm).duration_seconds > 1
    assert transcript and usage is not None


def test_chat_parameters_are_validated(client: openai.OpenAI) -> None:
    cases = [
        {"temperature": 2.5},
        {"top_p": 1.5},
        {"frequency_penalty": -3},
        {"presence_penalty": 3},
        {"logit_bias": {"50256": -101}},
        {"top_logprobs": 5},
        {"stop": ["a", "b", "c", "d", "e"]},
        {"max_completion_tokens": 0},
        {"n": 2},
        {"response_format": {"type": "json_schema"}},
    ]
    for extra in cases:
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model="gpt-audio",
                messages=[{"role": "user", "content": "hi"}],
                **extra,  # type: ignore[arg-type]
            )


def test_deprecated_max_tokens_still_works_with_a_warning(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-audio", messages=[{"role": "user", "content": "hi"}], max_tokens=50
    )
    assert "max_tokens is deprecated" in raw.headers["warning"]
    assert raw.parse().choices[0].message.content


def test_an_upload_past_the_gateways_bound_is_413(client: openai.OpenAI) -> None:
    # Past the request body bound (40 MiB by default): a provider's own upload limit (OpenAI's
    # 25 MB) is not the gateway's, which splits long audio for it.
    big = io.BytesIO()
    with wave.open(big, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(bytes(Settings().max_body_bytes + 2**20))
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.create(
            model="local-whisper-tiny-en", file=("big.wav", big.getvalue(), "audio/wav")
        )
    assert caught.value.status_code == 413


def test_the_cascade_answers_a_spoken_question(
    client: openai.OpenAI, served: tuple[RunningGateway, RunningSimulator]
) -> None:
    gateway, sim = served
    question = client.audio.speech.create(
        model="local-tts",
        voice="alloy",
        input="What is the capital of France?",
        response_format="wav",
    ).read()
    body = {
        "model": "local-voice-chat",
        "input": "data:audio/wav;base64," + base64.b64encode(question).decode(),
        "voice": "onyx",
        "response_format": "wav",
    }
    with gateway.client(client.api_key) as http:
        response = http.post("/api/v1/audio", json=body)
        assert response.status_code == 200, response.text
        reply = response.json()
        record = http.get(f"/api/v1/usage/{response.headers['x-request-id']}").json()
    assert reply["object"] == "audio.chat"
    assert (
        word_error_rate("What is the capital of France?", reply["data"]["input_transcript"]) <= 0.2
    )
    chat_call = sim.requests()[-1]
    assert chat_call["path"] == "/v1/chat/completions" and chat_call["credential"] == "cascade-key"
    transcript = reply["data"]["transcript"]
    assert transcript.startswith("The simulator heard:")
    heard_back = client.audio.transcriptions.create(
        model="local-whisper-tiny-en",
        file=("answer.wav", base64.b64decode(reply["data"]["audio_base64"]), "audio/wav"),
    )
    assert word_error_rate(transcript, heard_back.text) <= 0.25
    # Three legs at the cascade's prices: $0.50/$1.50 per 1M tokens, $0.001 per minute heard,
    # $1.00 per 1M characters spoken; rounded once, half up.
    exact = (
        record["input_text_tokens"] * 0.5
        + record["output_text_tokens"] * 1.5
        + record["audio_milliseconds"] * 1000 / 60_000
        + record["input_characters"] * 1.0
    )
    assert record["input_characters"] == len(transcript)
    assert record["cost_micro_usd"] == int(exact + 0.5)


def test_openai_speech_streams_through_from_upstream_sse(
    client: openai.OpenAI, served: tuple[RunningGateway, RunningSimulator]
) -> None:
    _, sim = served
    sim.reset()
    sim.queue_faults("primary-key", {"kind": "503"})  # fails over before the first byte
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts",
        voice="coral",
        input="Streamed from upstream events.",
        response_format="wav",
    ) as response:
        audio = b"".join(response.iter_bytes())
    found = probe(audio)
    assert found.sample_rate == 24_000 and found.duration_seconds > 1 and found.peak > 0.05
    calls = sim.requests()
    assert [c["credential"] for c in calls] == ["primary-key", "secondary-key"]
    assert calls[-1]["body"]["stream_format"] == "sse"


def test_speech_on_an_audio_chat_model(client: openai.OpenAI) -> None:
    audio = client.audio.speech.create(
        model="gpt-audio-1.5",
        voice="alloy",
        input="Spoken by a chat model.",
        response_format="flac",
    ).read()
    found = probe(audio)
    assert found.codec == "flac" and found.duration_seconds > 1
