"""Wire parity: for every adapter operation, the request our adapter sends upstream matches the
request the official SDK sends for the same call — path, query, auth header, body keys and
value types — both captured by the simulator's request log.

Gemini's API reads camelCase and snake_case keys alike (the SDK itself sends some of each), so
Gemini bodies are compared with their keys in camelCase.
"""

import base64
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import openai
import pytest
from google import genai
from google.genai import types
from pydantic import SecretStr

from tests.gateway_process import RunningSimulator
from tests.simulator.process import fast_simulator
from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio
from voxgate.providers import azure_openai, gemini
from voxgate.providers import openai as openai_provider
from voxgate.providers.gemini import transcription as gemini_transcription
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.protocols import (
    ChatAudioRequest,
    SpeechRequest,
    TranscriptionRequest,
    Upstream,
)

KEY = "parity-key"
API_VERSION = "2025-04-01-preview"
AUDIO = PcmAudio((np.sin(np.arange(16_000) / 5) * 5000).astype("<i2").tobytes(), 16_000)
WAV = encode(AUDIO, "wav")
SPEECH = SpeechRequest(text="Hello there.", voice="coral", speed=1.25, instructions="Warmly.")
GEMINI_SPEECH = SpeechRequest(text="Hello there.", voice="Kore")
TTS = "gemini-2.5-flash-preview-tts"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    with fast_simulator(tmp_path_factory.mktemp("sim")) as running:
        yield running


Ours = Callable[[UpstreamHttp, str], Awaitable[object]]
Theirs = Callable[[str], object]


@dataclass(frozen=True)
class Operation:
    name: str
    ours: Ours
    theirs: Theirs
    camel_case: bool = False


def openai_upstream(base: str, model: str) -> Upstream:
    return Upstream(model=model, base_url=f"{base}/v1", credential=SecretStr(KEY))


def azure_upstream(base: str, deployment: str) -> Upstream:
    return Upstream(
        model=deployment, base_url=base, credential=SecretStr(KEY), api_version=API_VERSION
    )


def gemini_upstream(base: str, model: str) -> Upstream:
    return Upstream(model=model, base_url=base, credential=SecretStr(KEY))


def sdk(base: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=KEY, base_url=f"{base}/v1", max_retries=0)


def azure_sdk(base: str) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        api_key=KEY, azure_endpoint=base, api_version=API_VERSION, max_retries=0
    )


def google_sdk(base: str) -> genai.Client:
    # v1beta, where Gemini's TTS models are served (the SDK's default is v1).
    options = types.HttpOptions(base_url=base, api_version="v1beta")
    return genai.Client(api_key=KEY, http_options=options)


async def drain(stream: Any) -> None:
    async for _ in stream:
        pass


def sdk_speech(client: openai.OpenAI, model: str, **extra: Any) -> object:
    return client.audio.speech.create(
        model=model,
        input=SPEECH.text,
        voice=SPEECH.voice,
        response_format="pcm",
        speed=SPEECH.speed,
        instructions=SPEECH.instructions or "",
        **extra,
    ).content


def sdk_chat(client: openai.OpenAI, model: str) -> object:
    return client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is said here?"},
                    {
                        "type": "input_audio",
                        "input_audio": {"data": base64.b64encode(WAV).decode(), "format": "wav"},
                    },
                ],
            },
        ],
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
        max_completion_tokens=512,
    )


OUR_CHAT = ChatAudioRequest(
    system="Answer briefly.",
    text="What is said here?",
    audio=AUDIO,
    voice="alloy",
    max_output_tokens=512,
)


def gemini_speech_config() -> types.GenerateContentConfig:
    prebuilt = types.PrebuiltVoiceConfig(voice_name=GEMINI_SPEECH.voice)
    return types.GenerateContentConfig(
        response_modalities=["AUDIO"],
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(prebuilt_voice_config=prebuilt)
        ),
    )


def gemini_transcribe(base: str) -> object:
    client = google_sdk(base)
    return client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[
            gemini_transcription.TRANSCRIBE,
            types.Part.from_bytes(data=WAV, mime_type="audio/wav"),
        ],
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema=gemini_transcription.ANSWER_SCHEMA,
        ),
    )


def gemini_speak(base: str, *, stream: bool) -> object:
    client = google_sdk(base)
    if stream:
        return list(
            client.models.generate_content_stream(
                model=TTS, contents=GEMINI_SPEECH.text, config=gemini_speech_config()
            )
        )
    return client.models.generate_content(
        model=TTS, contents=GEMINI_SPEECH.text, config=gemini_speech_config()
    )


OPERATIONS = [
    Operation(
        "openai speech",
        lambda http, base: openai_provider.openai_provider(http).synthesize(
            SPEECH, openai_upstream(base, "gpt-4o-mini-tts")
        ),
        lambda base: sdk_speech(sdk(base), "gpt-4o-mini-tts"),
    ),
    Operation(
        "openai SSE speech",
        lambda http, base: drain(
            openai_provider.openai_provider(http).stream_speech(
                SPEECH, openai_upstream(base, "gpt-4o-mini-tts")
            )
        ),
        lambda base: sdk_speech(sdk(base), "gpt-4o-mini-tts", stream_format="sse"),
    ),
    Operation(
        "azure SSE speech",
        lambda http, base: drain(
            azure_openai.azure_openai_provider(http).stream_speech(
                SPEECH, azure_upstream(base, "tts")
            )
        ),
        lambda base: sdk_speech(azure_sdk(base), "tts", stream_format="sse"),
    ),
    Operation(
        "openai transcription",
        lambda http, base: openai_provider.openai_provider(http).transcribe(
            TranscriptionRequest(
                audio=AUDIO, language="en", prompt="A tone.", word_timestamps=True
            ),
            openai_upstream(base, "whisper-1"),
        ),
        lambda base: sdk(base).audio.transcriptions.create(
            model="whisper-1",
            file=("audio.wav", WAV, "audio/wav"),
            language="en",
            prompt="A tone.",
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        ),
    ),
    Operation(
        "azure translation",
        lambda http, base: azure_openai.azure_openai_provider(http).transcribe(
            TranscriptionRequest(audio=AUDIO, translate=True, prompt="A tone."),
            azure_upstream(base, "whisper"),
        ),
        lambda base: azure_sdk(base).audio.translations.create(
            model="whisper",
            file=("audio.wav", WAV, "audio/wav"),
            prompt="A tone.",
            response_format="verbose_json",
        ),
    ),
    Operation(
        "openai chat with audio",
        lambda http, base: openai_provider.openai_provider(http).chat(
            OUR_CHAT, openai_upstream(base, "gpt-audio")
        ),
        lambda base: sdk_chat(sdk(base), "gpt-audio"),
    ),
    Operation(
        "azure chat with audio",
        lambda http, base: azure_openai.azure_openai_provider(http).chat(
            OUR_CHAT, azure_upstream(base, "gpt-audio-1.5")
        ),
        lambda base: sdk_chat(azure_sdk(base), "gpt-audio-1.5"),
    ),
    Operation(
        "gemini TTS",
        lambda http, base: gemini.GeminiProvider(http).synthesize(
            GEMINI_SPEECH, gemini_upstream(base, TTS)
        ),
        lambda base: gemini_speak(base, stream=False),
        camel_case=True,
    ),
    Operation(
        "gemini streamed TTS",
        lambda http, base: drain(
            gemini.GeminiProvider(http).stream_speech(GEMINI_SPEECH, gemini_upstream(base, TTS))
        ),
        lambda base: gemini_speak(base, stream=True),
        camel_case=True,
    ),
    Operation(
        "gemini transcription",
        lambda http, base: gemini.GeminiProvider(http).transcribe(
            TranscriptionRequest(audio=AUDIO), gemini_upstream(base, "gemini-2.5-flash")
        ),
        gemini_transcribe,
        camel_case=True,
    ),
]


_SNAKE = re.compile(r"_([a-z])")


def shape(value: Any, *, camel_case: bool) -> Any:
    """Keys and value types, not values: what must match between the two requests."""
    if isinstance(value, dict):
        return {
            (_SNAKE.sub(lambda m: m.group(1).upper(), k) if camel_case else k): shape(
                v, camel_case=camel_case
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [shape(item, camel_case=camel_case) for item in value]
    return type(value).__name__


def wire(call: dict[str, Any], *, camel_case: bool) -> dict[str, Any]:
    return {
        "method": call["method"],
        "path": call["path"],
        "query": call["query"],
        "auth": call["auth_headers"],
        "credential": call["credential"],
        "body": shape(call["body"], camel_case=camel_case),
        "form": shape(call["form"], camel_case=False),
    }


# gemini/transcription.py (another engineer's) sends its content without `role: "user"` and its
# schema without the `propertyOrdering` the SDK adds; strict, so the fix turns this red.
@pytest.mark.parametrize(
    "operation", [pytest.param(operation, id=operation.name) for operation in OPERATIONS]
)
async def test_our_request_is_the_sdks_request(sim: RunningSimulator, operation: Operation) -> None:
    http = UpstreamHttp(timeout_seconds=20, max_response_bytes=50_000_000)
    try:
        sim.reset()
        await operation.ours(http, sim.base_url)
        [ours] = sim.requests()
    finally:
        await http.aclose()
    sim.reset()
    operation.theirs(sim.base_url)
    [theirs] = sim.requests()
    assert wire(ours, camel_case=operation.camel_case) == wire(
        theirs, camel_case=operation.camel_case
    )
