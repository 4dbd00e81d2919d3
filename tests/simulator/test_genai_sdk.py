"""The simulator as the official `google-genai` package (3.6) sees it: v1 and v1beta, the SDK's
nested snake_case and the REST docs' camelCase, one and two speakers, transcription, streamed
generation. Answers are parsed by the package's own types; faults are its own error classes."""

import base64
import json

import httpx
import httpx2
import pytest
from google import genai
from google.genai import errors, types

from tests.gateway_process import RunningSimulator
from tests.simulator.conftest import wav_tone

KEY = "gemini-sdk-key"
TTS_MODEL = "gemini-2.5-flash-preview-tts"


def client(sim: RunningSimulator, version: str = "v1beta", key: str = KEY) -> genai.Client:
    options = types.HttpOptions(base_url=sim.base_url, api_version=version)
    return genai.Client(api_key=key, http_options=options)


def one_voice(name: str) -> types.SpeechConfig:
    prebuilt = types.PrebuiltVoiceConfig(voice_name=name)
    return types.SpeechConfig(voice_config=types.VoiceConfig(prebuilt_voice_config=prebuilt))


def spoken_seconds(response: types.GenerateContentResponse) -> float:
    [candidate] = response.candidates or []
    assert candidate.content and candidate.content.parts
    inline = candidate.content.parts[0].inline_data
    assert inline and inline.data and inline.mime_type == "audio/L16;codec=pcm;rate=24000"
    return len(inline.data) / 2 / 24_000


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_single_speaker_speech(sim: RunningSimulator, version: str) -> None:
    config = types.GenerateContentConfig(
        response_modalities=["AUDIO"], speech_config=one_voice("Kore")
    )
    sdk = client(sim, version)
    response = sdk.models.generate_content(
        model=TTS_MODEL, contents="Say cheerfully: have a wonderful day!", config=config
    )
    assert spoken_seconds(response) > 0.5
    assert response.usage_metadata and response.usage_metadata.candidates_token_count
    [call] = sim.requests()
    assert call["path"] == f"/{version}/models/{TTS_MODEL}:generateContent"
    assert call["auth_headers"] == ["x-goog-api-key"]
    # What the SDK sends is nested snake_case; the simulator must read it as the API does.
    assert call["body"]["generationConfig"]["speechConfig"]["voice_config"]


def test_camel_case_body_as_the_rest_docs_write_it(sim: RunningSimulator) -> None:
    body = {
        "contents": [{"parts": [{"text": "Hello."}]}],
        "generationConfig": {
            "responseModalities": ["AUDIO"],
            "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}},
        },
    }
    answer = httpx.post(
        f"{sim.base_url}/v1beta/models/{TTS_MODEL}:generateContent",
        json=body,
        headers={"x-goog-api-key": KEY},
    )
    assert answer.status_code == 200, answer.text
    assert spoken_seconds(types.GenerateContentResponse.model_validate(answer.json())) > 0.5


def test_multi_speaker_speech(sim: RunningSimulator) -> None:
    speakers = [
        types.SpeakerVoiceConfig(
            speaker=name,
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=voice)
            ),
        )
        for name, voice in (("Joe", "Kore"), ("Jane", "Puck"))
    ]
    config = types.GenerateContentConfig(
        response_modalities=["AUDIO"],
        speech_config=types.SpeechConfig(
            multi_speaker_voice_config=types.MultiSpeakerVoiceConfig(speaker_voice_configs=speakers)
        ),
    )
    sdk = client(sim)
    response = sdk.models.generate_content(
        model=TTS_MODEL, contents="Joe: How's it going?\nJane: Not too bad.", config=config
    )
    assert spoken_seconds(response) > 0.5


def test_an_unknown_voice_is_the_apis_400(sim: RunningSimulator) -> None:
    config = types.GenerateContentConfig(
        response_modalities=["AUDIO"], speech_config=one_voice("Alloy")
    )
    sdk = client(sim)
    with pytest.raises(errors.ClientError) as raised:
        sdk.models.generate_content(model=TTS_MODEL, contents="Hi.", config=config)
    assert raised.value.code == 400 and "Alloy" in str(raised.value.message)


def test_transcription_of_an_audio_part(sim: RunningSimulator) -> None:
    audio = types.Part.from_bytes(data=wav_tone(1.5), mime_type="audio/wav")
    sdk = client(sim)
    response = sdk.models.generate_content(
        model="gemini-2.5-flash", contents=["Generate a transcript of the speech.", audio]
    )
    assert response.text and response.text.strip()
    [call] = sim.requests()
    [content] = call["body"]["contents"]
    assert base64.urlsafe_b64decode(content["parts"][1]["inlineData"]["data"])[:4] == b"RIFF"


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_streamed_speech(sim: RunningSimulator, version: str) -> None:
    config = types.GenerateContentConfig(
        response_modalities=["AUDIO"], speech_config=one_voice("Zephyr")
    )
    sdk = client(sim, version)
    chunks = list(
        sdk.models.generate_content_stream(
            model=TTS_MODEL, contents="A streamed sentence.", config=config
        )
    )
    assert len(chunks) > 1, "a second of audio comes in several chunks"
    seconds = sum(spoken_seconds(chunk) for chunk in chunks)
    assert seconds > 0.5
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata and last.usage_metadata.total_token_count
    [call] = sim.requests()
    assert call["path"] == f"/{version}/models/{TTS_MODEL}:streamGenerateContent"
    assert call["query"] == "alt=sse"


@pytest.mark.parametrize(
    ("kind", "error_class"),
    [
        ("400", errors.ClientError),
        ("401", errors.ClientError),
        ("403", errors.ClientError),
        ("404", errors.ClientError),
        ("429", errors.ClientError),
        ("500", errors.ServerError),
        ("503", errors.ServerError),
    ],
)
def test_each_fault_is_the_sdks_own_error(
    sim: RunningSimulator, kind: str, error_class: type[errors.APIError]
) -> None:
    config = types.GenerateContentConfig(
        response_modalities=["AUDIO"], speech_config=one_voice("Kore")
    )
    sdk = client(sim, key=f"fail-{kind}")
    with pytest.raises(error_class) as raised:
        sdk.models.generate_content(model=TTS_MODEL, contents="Hi.", config=config)
    assert raised.value.code == int(kind)
    assert raised.value.status and raised.value.status != "UNKNOWN"


def test_a_fault_on_a_stream_is_the_sdks_own_error(sim: RunningSimulator) -> None:
    sim.queue_faults(KEY, {"kind": "429", "retry_after_seconds": 1})
    config = types.GenerateContentConfig(
        response_modalities=["AUDIO"], speech_config=one_voice("Kore")
    )
    sdk = client(sim)
    with pytest.raises(errors.ClientError) as raised:
        list(sdk.models.generate_content_stream(model=TTS_MODEL, contents="Hi.", config=config))
    assert raised.value.code == 429 and raised.value.status == "RESOURCE_EXHAUSTED"


# Below HTTP the SDK has no error class of its own: it raises its HTTP client's (httpx2).
TRANSPORT_FAULTS: dict[str, type[Exception]] = {
    "reset": httpx2.RemoteProtocolError,
    "cut": httpx2.RemoteProtocolError,
    "timeout": httpx2.TimeoutException,
    "malformed": json.JSONDecodeError,
}


@pytest.mark.parametrize("kind", TRANSPORT_FAULTS)
def test_each_transport_fault_is_the_sdks_clients_error(sim: RunningSimulator, kind: str) -> None:
    options = types.HttpOptions(base_url=sim.base_url, api_version="v1beta", timeout=1000)
    sdk = genai.Client(api_key=f"fail-{kind}", http_options=options)
    config = types.GenerateContentConfig(
        response_modalities=["AUDIO"], speech_config=one_voice("Kore")
    )
    with pytest.raises(TRANSPORT_FAULTS[kind]):
        sdk.models.generate_content(model=TTS_MODEL, contents="Hi.", config=config)
