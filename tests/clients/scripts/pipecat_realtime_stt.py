"""Pipecat's OpenAIRealtimeSTTService at the gateway in a pipeline with no transport: the spoken
sentence, then silence, in a transcription session with server VAD. Interim and final
transcription frames are collected until the first final one; any error frame is reported
(the service treats a realtime error as fatal)."""

import asyncio
import sys
import wave
from typing import Any

from outcome import run
from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.stt import OpenAIRealtimeSTTService

MODEL = sys.argv[1]
FINAL_SECONDS = 90


class Watch(FrameProcessor):
    """Notes the transcription frames and any error, in either direction."""

    def __init__(self, seen: dict[str, Any], final: asyncio.Event) -> None:
        super().__init__()
        self.seen, self.final = seen, final

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterimTranscriptionFrame):
            self.seen["interim"].append(frame.text)
        elif isinstance(frame, TranscriptionFrame):
            self.seen["final"].append(frame.text)
            self.final.set()
        elif isinstance(frame, ErrorFrame):
            self.seen["errors"].append(str(frame.error))
        await self.push_frame(frame, direction)


def speech(path: str) -> tuple[int, list[InputAudioRawFrame]]:
    """The spoken WAV, then two seconds of silence, as 20 ms input frames at its own rate."""
    with wave.open(path, "rb") as wav:
        assert wav.getnchannels() == 1
        rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes()) + bytes(rate * 2 * 2)
    chunk = rate * 2 // 50
    return rate, [
        InputAudioRawFrame(pcm[i : i + chunk], rate, 1) for i in range(0, len(pcm), chunk)
    ]


async def transcribe(config: dict[str, Any]) -> dict[str, Any]:
    base = config["base_url"].replace("http", "ws", 1) + "/realtime"
    service = OpenAIRealtimeSTTService(
        api_key=config["api_key"],
        base_url=base,
        turn_detection={"type": "server_vad", "silence_duration_ms": 500},
        settings=OpenAIRealtimeSTTService.Settings(model=MODEL),
    )
    seen: dict[str, Any] = {"interim": [], "final": [], "errors": []}
    final = asyncio.Event()
    rate, frames = speech(config["wav_path"])
    task = PipelineTask(
        Pipeline([service, Watch(seen, final)]),
        params=PipelineParams(audio_in_sample_rate=rate),
    )
    runner = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    try:
        await task.queue_frames(frames)
        await asyncio.wait_for(final.wait(), FINAL_SECONDS)
    finally:
        await task.queue_frame(EndFrame())
        await asyncio.wait_for(runner, FINAL_SECONDS)
    return seen


run({"transcribe": transcribe})
