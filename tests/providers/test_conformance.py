"""Adapters against the providers' documented request and response shapes."""

import base64

import numpy as np
import orjson
import pytest
from pydantic import SecretStr

from voxgate.audio.pcm import PcmAudio
from voxgate.providers import openai
from voxgate.providers.azure_openai import AzureEndpoints
from voxgate.providers.errors import UpstreamError
from voxgate.providers.gemini import speech as gemini_speech
from voxgate.providers.gemini import transcription as gemini_transcription
from voxgate.providers.openai import BearerEndpoints
from voxgate.providers.openai_style import chat, speech
from voxgate.providers.protocols import (
    ChatAudioRequest,
    SpeechRequest,
    TranscriptionRequest,
    Upstream,
)

KEY = SecretStr("sk-test")
PCM = PcmAudio((np.sin(np.arange(24_000) / 10) * 5000).astype("<i2").tobytes(), 24_000)


def test_openai_speech_body() -> None:
    request = SpeechRequest(text="Hello", voice="coral", speed=1.5, instructions="Cheerful.")
    output = openai.DECLARATION.speech_output
    assert output is not None
    assert speech.body(request, "gpt-4o-mini-tts", output) == {
        "model": "gpt-4o-mini-tts",
        "input": "Hello",
        "voice": "coral",
        "response_format": "pcm",
        "speed": 1.5,
        "instructions": "Cheerful.",
    }


def test_openai_url_and_bearer_header() -> None:
    upstream = Upstream(model="gpt-4o-mini-tts", base_url="http://127.0.0.1:9/v1/", credential=KEY)
    endpoints = BearerEndpoints()
    assert endpoints.url(upstream, "audio/speech") == "http://127.0.0.1:9/v1/audio/speech"
    assert endpoints.headers(upstream) == {"Authorization": "Bearer sk-test"}
    assert BearerEndpoints().url(Upstream(model="m"), "audio/speech") == (
        "https://api.openai.com/v1/audio/speech"
    )


def test_azure_deployment_and_v1_surfaces() -> None:
    endpoints = AzureEndpoints()
    deployed = Upstream(
        model="my-deploy",
        base_url="https://x.openai.azure.com",
        credential=KEY,
        api_version="2025-01-01-preview",
    )
    assert endpoints.url(deployed, "chat/completions") == (
        "https://x.openai.azure.com/openai/deployments/my-deploy/chat/completions"
        "?api-version=2025-01-01-preview"
    )
    assert endpoints.body_model(deployed) == "my-deploy"  # as the AzureOpenAI client sends it
    assert endpoints.headers(deployed) == {"api-key": "sk-test"}
    v1 = Upstream(model="gpt-audio", base_url="https://x.openai.azure.com", credential=KEY)
    assert endpoints.url(v1, "audio/speech") == "https://x.openai.azure.com/openai/v1/audio/speech"
    assert endpoints.body_model(v1) == "gpt-audio"


def test_chat_body_asks_for_pcm16_audio_with_an_input_audio_part() -> None:
    body = chat.body(ChatAudioRequest(system="Transcribe.", audio=PCM), "gpt-audio")
    assert body["modalities"] == ["text"]
    [system, user] = body["messages"]
    assert system == {"role": "system", "content": "Transcribe."}
    [part] = user["content"]
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
    assert base64.b64decode(part["input_audio"]["data"])[:4] == b"RIFF"
    spoken = chat.body(ChatAudioRequest(text="Hi", voice="alloy"), "gpt-audio")
    assert spoken["modalities"] == ["text", "audio"]
    assert spoken["audio"] == {"voice": "alloy", "format": "pcm16"}


# The response shape from OpenAI's audio generation guide.
DOCUMENTED_CHAT_AUDIO = {
    "id": "chatcmpl-AaBb",
    "object": "chat.completion",
    "created": 1730000000,
    "model": "gpt-audio",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "audio": {
                    "id": "audio_abc123",
                    "expires_at": 1730003600,
                    "data": base64.b64encode(PCM.samples).decode(),
                    "transcript": "Yes, golden retrievers are known to be friendly.",
                },
            },
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 17,
        "completion_tokens": 95,
        "total_tokens": 112,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 80},
    },
}


def test_chat_result_reads_audio_transcript_and_audio_token_usage() -> None:
    result = chat.result("openai", DOCUMENTED_CHAT_AUDIO)
    assert result.text == "Yes, golden retrievers are known to be friendly."
    assert result.audio is not None and result.audio.duration_seconds == pytest.approx(1.0)
    usage = result.usage
    assert (usage.input_text_tokens, usage.input_audio_tokens) == (17, 0)
    assert (usage.output_text_tokens, usage.output_audio_tokens) == (15, 80)


def test_a_chat_answer_without_a_message_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="no message"):
        chat.result("openai", {"choices": []})


def test_gemini_tts_body_and_answer() -> None:
    body = gemini_speech.body(SpeechRequest(text="Have a nice day", voice="Kore"))
    assert body["generationConfig"] == {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
    }
    answer = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "audio/L16;codec=pcm;rate=24000",
                                "data": base64.b64encode(PCM.samples).decode(),
                            }
                        }
                    ]
                }
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 25},
    }
    result = gemini_speech.result("gemini", answer, speed=2.0)
    assert result.audio.sample_rate == 24_000
    assert result.audio.duration_seconds == pytest.approx(0.5, abs=0.05)  # speed applied here
    assert result.usage.output_audio_tokens == 25


def test_gemini_transcription_asks_for_json_and_reads_it() -> None:
    request = TranscriptionRequest(audio=PcmAudio(PCM.samples, 16_000))
    body = gemini_transcription.body(request)
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["contents"][0]["parts"][1]["inlineData"]["mimeType"] == "audio/wav"
    text = orjson.dumps({"text": " Hola mundo ", "language": "ES"}).decode()
    answer = {"candidates": [{"content": {"parts": [{"text": text}]}}]}
    result = gemini_transcription.result("gemini", answer, request)
    assert (result.text, result.language) == ("Hola mundo", "es")
    with pytest.raises(UpstreamError):
        gemini_transcription.result(
            "gemini", {"candidates": [{"content": {"parts": [{"text": "no"}]}}]}, request
        )
