"""LiveKit Agents' OpenAI plugin outside a room: TTS and STT with base_url at the gateway,
on the plugin's default models (and tts-1, which the plugin asks for as plain audio)."""

import io
import wave
from typing import Any

from livekit import rtc
from livekit.agents import APIConnectOptions
from livekit.plugins import openai
from outcome import b64, run

# One attempt: a failure shows as the gateway's answer, not as the plugin's retries.
ONCE = APIConnectOptions(max_retry=0)


async def _synthesize(tts: openai.TTS, text: str) -> dict[str, Any]:
    frames = [audio.frame async for audio in tts.synthesize(text, conn_options=ONCE)]
    combined = rtc.combine_audio_frames(frames)
    return {
        "frames": len(frames),
        "sample_rate": combined.sample_rate,
        "wav": b64(combined.to_wav_bytes()),
    }


async def tts_default(config: dict[str, Any]) -> dict[str, Any]:
    tts = openai.TTS(base_url=config["base_url"], api_key=config["api_key"])
    try:
        return {"model": tts.model, **await _synthesize(tts, config["sentence"])}
    finally:
        await tts.aclose()


async def tts_1(config: dict[str, Any]) -> dict[str, Any]:
    tts = openai.TTS(model="tts-1", base_url=config["base_url"], api_key=config["api_key"])
    try:
        return {"model": tts.model, **await _synthesize(tts, config["sentence"])}
    finally:
        await tts.aclose()


def _wav_frame(data: bytes) -> rtc.AudioFrame:
    with wave.open(io.BytesIO(data), "rb") as wav:
        # A streamed WAV's header leaves its length open: the samples are what the file holds.
        channels = wav.getnchannels()
        pcm = wav.readframes(wav.getnframes())
        return rtc.AudioFrame(
            data=pcm,
            sample_rate=wav.getframerate(),
            num_channels=channels,
            samples_per_channel=len(pcm) // (2 * channels),
        )


async def _recognize(config: dict[str, Any], **options: Any) -> dict[str, Any]:
    stt = openai.STT(base_url=config["base_url"], api_key=config["api_key"], **options)
    try:
        event = await stt.recognize(_wav_frame(config["wav"]), conn_options=ONCE)
        best = event.alternatives[0]
        return {
            "model": stt.model,
            "type": str(event.type.value),
            "text": best.text,
        }
    finally:
        await stt.aclose()


async def stt_default(config: dict[str, Any]) -> dict[str, Any]:
    return await _recognize(config)


async def stt_whisper_1(config: dict[str, Any]) -> dict[str, Any]:
    return await _recognize(config, model="whisper-1")


if __name__ == "__main__":
    run(
        {
            "tts_default": tts_default,
            "tts_1": tts_1,
            "stt_default": stt_default,
            "stt_whisper_1": stt_whisper_1,
        }
    )
