"""Code written for Azure OpenAI works against the gateway by changing its endpoint: the
official `AzureOpenAI` client on deployment paths with `api-key`, the `OpenAI` client on Azure's
`/openai/v1/` surface with Bearer, and Azure's REST shape that names no model in the body."""

import io
import secrets
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.audio_probe import probe
from tests.gateway_process import RunningGateway, routed_gateway

API_VERSION = "2025-01-01-preview"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    root = Path(tmp_path_factory.mktemp("azure-clients"))
    with routed_gateway(root) as (running, _sim):
        yield running


@pytest.fixture(scope="module")
def key(gateway: RunningGateway) -> str:
    return gateway.new_workspace(f"azure-{secrets.token_hex(4)}", "5.00")


@pytest.fixture
def azure(gateway: RunningGateway, key: str) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=gateway.base_url, api_key=key, api_version=API_VERSION, max_retries=0
    )


def one_second_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\x00\x01" * 16_000)
    return buffer.getvalue()


def test_speech_through_a_deployment(azure: openai.AzureOpenAI) -> None:
    audio = azure.audio.speech.create(
        model="gpt-4o-mini-tts",
        voice="alloy",
        input="Hello from Azure code.",
        response_format="wav",
    ).read()
    assert probe(audio).duration_seconds > 0


def test_transcription_through_a_deployment(azure: openai.AzureOpenAI) -> None:
    result = azure.audio.transcriptions.create(
        model="whisper-1", file=("one.wav", one_second_wav(), "audio/wav")
    )
    assert isinstance(result, openai.types.audio.Transcription)


def test_chat_through_a_deployment(azure: openai.AzureOpenAI) -> None:
    completion = azure.chat.completions.create(
        model="gpt-audio", messages=[{"role": "user", "content": "Say hi."}]
    )
    ChatCompletion.model_validate(completion.to_dict())
    assert completion.choices[0].message.content


def test_the_v1_surface_with_bearer(gateway: RunningGateway, key: str) -> None:
    client = openai.OpenAI(base_url=f"{gateway.base_url}/openai/v1/", api_key=key, max_retries=0)
    audio = client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="alloy", input="Hello.", response_format="wav"
    ).read()
    assert probe(audio).duration_seconds > 0


def test_the_rest_shape_names_the_model_in_the_path(gateway: RunningGateway, key: str) -> None:
    response = httpx.post(
        f"{gateway.base_url}/openai/deployments/gpt-4o-mini-tts/audio/speech",
        params={"api-version": API_VERSION},
        headers={"api-key": key},
        json={"input": "Hello.", "voice": "alloy", "response_format": "wav"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert probe(response.content).duration_seconds > 0


def test_a_wrong_azure_key_is_refused(gateway: RunningGateway) -> None:
    client = openai.AzureOpenAI(
        azure_endpoint=gateway.base_url, api_key="vg_live_wrong", api_version=API_VERSION
    )
    with pytest.raises(openai.AuthenticationError):
        client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="Hello.")
