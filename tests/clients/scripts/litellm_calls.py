"""LiteLLM's SDK against the gateway: speech, transcription with word timestamps, audio chat."""

import os
from typing import Any

# Before litellm is imported: its price map from the package, not the network.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import litellm
from outcome import b64, run

litellm.telemetry = False


def _endpoint(config: dict[str, Any]) -> dict[str, Any]:
    return {"api_base": config["base_url"], "api_key": config["api_key"]}


async def speech(config: dict[str, Any]) -> dict[str, Any]:
    response = await litellm.aspeech(
        model="openai/gpt-4o-mini-tts",
        voice="alloy",
        input=config["sentence"],
        response_format="wav",
        **_endpoint(config),
    )
    return {"audio": b64(response.content)}


async def transcription(config: dict[str, Any]) -> dict[str, Any]:
    response = await litellm.atranscription(
        model="openai/whisper-1",
        file=("sentence.wav", config["wav"], "audio/wav"),
        response_format="verbose_json",
        timestamp_granularities=["word"],
        **_endpoint(config),
    )
    # LiteLLM's own response object; its hidden params say what it parsed from the wire.
    return {"text": response.text, "words": response.get("words"), "raw": response.json()}


def _audio_chat(config: dict[str, Any], audio_format: str) -> dict[str, Any]:
    return {
        "model": "openai/gpt-audio",
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": audio_format},
        "messages": [{"role": "user", "content": config["sentence"]}],
        **_endpoint(config),
    }


async def completion(config: dict[str, Any]) -> dict[str, Any]:
    response = await litellm.acompletion(**_audio_chat(config, "wav"))
    choice = response.choices[0]
    audio = choice.message.audio
    return {
        "finish_reason": choice.finish_reason,
        "audio": audio.data,
        "transcript": audio.transcript,
        "audio_id": audio.id,
        "usage": response.usage.model_dump(),
    }


async def completion_hearing_audio(config: dict[str, Any]) -> dict[str, Any]:
    spoken = {"type": "input_audio", "input_audio": {"data": b64(config["wav"]), "format": "wav"}}
    request = _audio_chat(config, "wav") | {"messages": [{"role": "user", "content": [spoken]}]}
    response = await litellm.acompletion(**request)
    return {
        "transcript": response.choices[0].message.audio.transcript,
        "usage": response.usage.model_dump(),
    }


async def unknown_model(config: dict[str, Any]) -> dict[str, Any]:
    """A mistake of the client's: LiteLLM's own error class for the gateway's answer."""
    await litellm.aspeech(
        model="openai/no-such-model", voice="alloy", input="Hello.", **_endpoint(config)
    )
    return {}


async def completion_streamed(config: dict[str, Any]) -> dict[str, Any]:
    stream = await litellm.acompletion(**_audio_chat(config, "pcm16"), stream=True)
    audio, transcript, finish_reasons = [], [], []
    async for chunk in stream:
        for choice in chunk.choices:
            delta_audio = getattr(choice.delta, "audio", None) or {}
            audio.append(delta_audio.get("data") or "")
            transcript.append(delta_audio.get("transcript") or "")
            if choice.finish_reason:
                finish_reasons.append(choice.finish_reason)
    return {
        "audio_pieces": [piece for piece in audio if piece],
        "transcript": "".join(transcript),
        "finish_reasons": finish_reasons,
    }


if __name__ == "__main__":
    run(
        {
            "speech": speech,
            "transcription": transcription,
            "completion": completion,
            "completion_hearing_audio": completion_hearing_audio,
            "unknown_model": unknown_model,
            "completion_streamed": completion_streamed,
        }
    )
