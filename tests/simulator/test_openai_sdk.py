"""The simulator as the official `openai` package (3.57) sees it: OpenAI's paths, Azure's
deployments, and Azure's /openai/v1/ surface with `api-key` or Bearer. Every answer is judged
by the package's own types, every injected fault by the package's own error classes."""

import base64
import io
import json
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from openai.types.audio import (
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionVerbose,
    TranslationVerbose,
)
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionNamedToolChoiceParam,
)

from tests.gateway_process import RunningSimulator
from tests.simulator.conftest import wav_tone

KEY = "sdk-key"
API_VERSION = "2025-04-01-preview"


@dataclass(frozen=True)
class Surface:
    """One way the OpenAI package reaches a server, and where its calls must land."""

    name: str
    client: Callable[[str, str], openai.OpenAI]
    path: Callable[[str, str], str]
    auth_header: str
    extra_headers: dict[str, Any] = field(default_factory=dict)


SURFACES = [
    Surface(
        "openai",
        lambda base, key: openai.OpenAI(api_key=key, base_url=f"{base}/v1", max_retries=0),
        lambda model, path: f"/v1/{path}",
        "authorization",
    ),
    Surface(
        "azure-deployment",
        lambda base, key: openai.AzureOpenAI(
            api_key=key, azure_endpoint=base, api_version=API_VERSION, max_retries=0
        ),
        lambda model, path: f"/openai/deployments/{model}/{path}",
        "api-key",
    ),
    Surface(
        "azure-v1-bearer",
        lambda base, key: openai.OpenAI(api_key=key, base_url=f"{base}/openai/v1/", max_retries=0),
        lambda model, path: f"/openai/v1/{path}",
        "authorization",
    ),
    Surface(
        "azure-v1-api-key",
        lambda base, key: openai.OpenAI(
            api_key=key,
            base_url=f"{base}/openai/v1/",
            default_headers={"api-key": key},
            max_retries=0,
        ),
        lambda model, path: f"/openai/v1/{path}",
        "api-key",
        {"Authorization": openai.omit},
    ),
]


@pytest.fixture(params=SURFACES, ids=lambda surface: surface.name)
def surface(request: pytest.FixtureRequest) -> Surface:
    chosen: Surface = request.param
    return chosen


def landed(sim: RunningSimulator, surface: Surface, model: str, path: str) -> dict[str, Any]:
    """The simulator's record of the last call, checked against where the surface sends it."""
    [call] = sim.requests()
    assert call["path"] == surface.path(model, path)
    assert call["auth_headers"] == [surface.auth_header]
    assert call["credential"] == KEY
    if surface.name == "azure-deployment":
        assert f"api-version={API_VERSION}" in call["query"]
    return call


def test_speech(sim: RunningSimulator, surface: Surface) -> None:
    client = surface.client(sim.base_url, KEY)
    answer = client.audio.speech.create(
        model="gpt-4o-mini-tts",
        voice="coral",
        input="Hello from the SDK.",
        response_format="wav",
        extra_headers=surface.extra_headers,
    )
    with wave.open(io.BytesIO(answer.content)) as audio:
        assert audio.getnframes() / audio.getframerate() > 0.5
    landed(sim, surface, "gpt-4o-mini-tts", "audio/speech")


def test_speech_as_server_sent_events(sim: RunningSimulator, surface: Surface) -> None:
    client = surface.client(sim.base_url, KEY)
    answer = client.audio.speech.create(
        model="gpt-4o-mini-tts",
        voice="coral",
        input="Hello.",
        response_format="pcm",
        stream_format="sse",
        extra_headers=surface.extra_headers,
    )
    events = [
        json.loads(line.removeprefix("data: "))
        for line in answer.text.splitlines()
        if line.startswith("data: ")
    ]
    *deltas, done = events
    assert {event["type"] for event in deltas} == {"speech.audio.delta"}
    samples = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    assert len(samples) / 2 / 24_000 > 0.5
    assert done["type"] == "speech.audio.done" and done["usage"]["output_tokens"] > 0


def test_transcription_with_word_timestamps(sim: RunningSimulator, surface: Surface) -> None:
    client = surface.client(sim.base_url, KEY)
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1",
        file=("speech.wav", wav_tone(2.0), "audio/wav"),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        extra_headers=surface.extra_headers,
    )
    verbose = TranscriptionVerbose.model_validate(raw.http_response.json())
    assert verbose.words and verbose.segments and verbose.text
    assert verbose.duration == pytest.approx(2.0, abs=0.05)
    call = landed(sim, surface, "whisper-1", "audio/transcriptions")
    assert call["form"]["timestamp_granularities[]"] == ["word", "segment"]


def test_translation(sim: RunningSimulator, surface: Surface) -> None:
    client = surface.client(sim.base_url, KEY)
    raw = client.audio.translations.with_raw_response.create(
        model="whisper-1",
        file=("speech.wav", wav_tone(1.0), "audio/wav"),
        response_format="verbose_json",
        extra_headers=surface.extra_headers,
    )
    assert TranslationVerbose.model_validate(raw.http_response.json()).text
    landed(sim, surface, "whisper-1", "audio/translations")


def test_chat_with_audio(sim: RunningSimulator, surface: Surface) -> None:
    client = surface.client(sim.base_url, KEY)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-audio",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": "Say hello."}],
        extra_headers=surface.extra_headers,
    )
    completion = ChatCompletion.model_validate(raw.http_response.json())
    audio = completion.choices[0].message.audio
    assert audio is not None and audio.transcript
    with wave.open(io.BytesIO(base64.b64decode(audio.data))) as decoded:
        assert decoded.getnframes() > 0
    assert completion.usage is not None and completion.usage.completion_tokens_details
    landed(sim, surface, "gpt-audio", "chat/completions")


def test_streamed_chat_with_audio(sim: RunningSimulator, surface: Surface) -> None:
    client = surface.client(sim.base_url, KEY)
    stream = client.chat.completions.create(
        model="gpt-audio",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
        messages=[{"role": "user", "content": "Say hello."}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=surface.extra_headers,
    )
    chunks = [ChatCompletionChunk.model_validate(chunk.to_dict()) for chunk in stream]
    audio = [c.choices[0].delta.audio for c in chunks if c.choices and c.choices[0].delta.audio]
    samples = b"".join(base64.b64decode(piece.data) for piece in audio if piece.data)
    transcript = "".join(piece.transcript or "" for piece in audio)
    assert audio[0].id
    assert len(samples) / 2 / 24_000 > 0.5 and transcript.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


ERROR_CLASSES: dict[str, type[Exception]] = {
    "400": openai.BadRequestError,
    "401": openai.AuthenticationError,
    "404": openai.NotFoundError,
    "409": openai.ConflictError,
    "422": openai.UnprocessableEntityError,
    "429": openai.RateLimitError,
    "500": openai.InternalServerError,
    "503": openai.InternalServerError,
    "reset": openai.APIConnectionError,
    "cut": openai.APIConnectionError,
    "timeout": openai.APITimeoutError,
    # A 200 whose body is not JSON: the package has no class of its own for it.
    "malformed": json.JSONDecodeError,
}


@pytest.mark.parametrize("kind", ERROR_CLASSES)
def test_each_fault_is_the_sdks_own_error(
    sim: RunningSimulator, surface: Surface, kind: str
) -> None:
    client = surface.client(sim.base_url, KEY).with_options(timeout=1.0)
    sim.queue_faults(KEY, {"kind": kind, "retry_after_seconds": 2})
    with pytest.raises(ERROR_CLASSES[kind]) as raised:
        client.chat.completions.create(
            model="gpt-audio",
            messages=[{"role": "user", "content": "Hi."}],
            extra_headers=surface.extra_headers,
        )
    if isinstance(raised.value, openai.APIStatusError):
        assert raised.value.status_code == int(kind)
        assert raised.value.response.json()["error"]["message"]
    if kind == "429":
        assert raised.value.response.headers["retry-after"] == "2"  # type: ignore[attr-defined]


def test_uploads_over_25_mb_are_refused_with_413(sim: RunningSimulator) -> None:
    client = SURFACES[0].client(sim.base_url, KEY)
    too_big = wav_tone(26 * 1024 * 1024 / 32_000)
    with pytest.raises(openai.APIStatusError) as raised:
        client.audio.transcriptions.create(
            model="whisper-1", file=("long.wav", too_big, "audio/wav")
        )
    assert raised.value.status_code == 413
    assert "Maximum content size limit (26214400) exceeded" in raised.value.message
    # Just under the limit is heard.
    fits = wav_tone(24 * 1024 * 1024 / 32_000)
    assert client.audio.transcriptions.create(model="whisper-1", file=("ok.wav", fits)).text


def test_a_cut_stream_sends_its_first_chunk_then_drops(sim: RunningSimulator) -> None:
    client = SURFACES[0].client(sim.base_url, KEY)
    sim.queue_faults(KEY, {"kind": "cut"})
    received: list[ChatCompletionChunk] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(
            model="gpt-audio", messages=[{"role": "user", "content": "Hi."}], stream=True
        ):
            received.append(chunk)
    assert len(received) == 1 and received[0].choices[0].delta.role == "assistant"


WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


NAMED_CHOICE: ChatCompletionNamedToolChoiceParam = {
    "type": "function",
    "function": {"name": "get_weather"},
}


def test_a_required_tool_is_called(sim: RunningSimulator, surface: Surface) -> None:
    client = surface.client(sim.base_url, KEY)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-audio",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
        extra_headers=surface.extra_headers,
    )
    [choice] = ChatCompletion.model_validate(raw.http_response.json()).choices
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {}


def test_a_streamed_tool_call_arrives_in_deltas(sim: RunningSimulator) -> None:
    client = SURFACES[0].client(sim.base_url, KEY)
    stream = client.chat.completions.create(
        model="gpt-audio",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice=NAMED_CHOICE,
        stream=True,
    )
    chunks = [ChatCompletionChunk.model_validate(chunk.to_dict()) for chunk in stream]
    calls = [call for chunk in chunks for call in (chunk.choices[0].delta.tool_calls or [])]
    assert calls[0].id and calls[0].function and calls[0].function.name == "get_weather"
    arguments = "".join(call.function.arguments or "" for call in calls if call.function)
    assert json.loads(arguments) == {}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_logprobs_come_per_word_with_alternatives(sim: RunningSimulator) -> None:
    client = SURFACES[0].client(sim.base_url, KEY)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-audio",
        messages=[{"role": "user", "content": "Hello."}],
        logprobs=True,
        top_logprobs=2,
    )
    [choice] = ChatCompletion.model_validate(raw.http_response.json()).choices
    assert choice.logprobs and choice.logprobs.content
    assert "".join(entry.token for entry in choice.logprobs.content) == choice.message.content
    assert all(len(entry.top_logprobs) == 2 for entry in choice.logprobs.content)
    stream = client.chat.completions.create(
        model="gpt-audio",
        messages=[{"role": "user", "content": "Hello."}],
        logprobs=True,
        stream=True,
    )
    chunks = [ChatCompletionChunk.model_validate(chunk.to_dict()) for chunk in stream]
    scored = [c.choices[0] for c in chunks if c.choices and c.choices[0].delta.content]
    assert scored and all(
        choice.logprobs
        and choice.logprobs.content
        and choice.logprobs.content[0].token == choice.delta.content
        for choice in scored
    )


def test_streamed_transcription(sim: RunningSimulator, surface: Surface) -> None:
    client = surface.client(sim.base_url, KEY)
    stream = client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe",
        file=("speech.wav", wav_tone(1.0), "audio/wav"),
        stream=True,
        extra_headers=surface.extra_headers,
    )
    events = [event.to_dict() for event in stream]
    *deltas, done = events
    words = [TranscriptionTextDeltaEvent.model_validate(delta).delta for delta in deltas]
    finished = TranscriptionTextDoneEvent.model_validate(done)
    assert words and finished.text == "".join(words)
    assert finished.usage is not None and finished.usage.input_tokens > 0
    landed(sim, surface, "gpt-4o-mini-transcribe", "audio/transcriptions")
