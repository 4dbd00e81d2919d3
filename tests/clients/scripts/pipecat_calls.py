"""Pipecat's OpenAI TTS and STT services with base_url at the gateway, driven through their
run_tts / run_stt generators without a transport or pipeline."""

from typing import Any

from outcome import b64, run
from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import ErrorFrame, Frame, TranscriptionFrame, TTSAudioRawFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.services.openai.stt import OpenAISTTService
from pipecat.services.openai.tts import OpenAITTSService
from pipecat.utils.asyncio.task_manager import TaskManager

RATE = 24_000


def _setup() -> FrameProcessorSetup:
    """What a pipeline hands each processor; TTS takes its output rate from it."""
    return FrameProcessorSetup(
        clock=SystemClock(),
        task_manager=TaskManager(),
        pipeline_worker=None,  # type: ignore[arg-type]
        audio_out_sample_rate=RATE,
    )


def _no_error(frames: list[Frame]) -> None:
    errors = [frame.error for frame in frames if isinstance(frame, ErrorFrame)]
    if errors:
        raise RuntimeError("; ".join(errors))


async def tts(config: dict[str, Any]) -> dict[str, Any]:
    service = OpenAITTSService(api_key=config["api_key"], base_url=config["base_url"])
    await service.setup(_setup())
    try:
        frames = [frame async for frame in service.run_tts(config["sentence"], "context-1")]
    finally:
        await service.cleanup()
    _no_error(frames)
    audio = [frame for frame in frames if isinstance(frame, TTSAudioRawFrame)]
    return {
        "model": service._settings.model,
        "frames": len(audio),
        "sample_rates": sorted({frame.sample_rate for frame in audio}),
        "channels": sorted({frame.num_channels for frame in audio}),
        "pcm": b64(b"".join(frame.audio for frame in audio)),
    }


async def _stt(config: dict[str, Any], **options: Any) -> dict[str, Any]:
    service = OpenAISTTService(api_key=config["api_key"], base_url=config["base_url"], **options)
    await service.setup(_setup())
    try:
        frames = [frame async for frame in service.run_stt(config["wav"]) if frame is not None]
    finally:
        await service.cleanup()
    _no_error(frames)
    texts = [frame.text for frame in frames if isinstance(frame, TranscriptionFrame)]
    return {"model": service._settings.model, "transcriptions": texts}


async def stt_default(config: dict[str, Any]) -> dict[str, Any]:
    return await _stt(config)


async def stt_whisper_1(config: dict[str, Any]) -> dict[str, Any]:
    return await _stt(config, settings=OpenAISTTService.Settings(model="whisper-1"))


if __name__ == "__main__":
    run({"tts": tts, "stt_default": stt_default, "stt_whisper_1": stt_whisper_1})
