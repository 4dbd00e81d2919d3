"""Pipecat's OpenAIRealtimeLLMService at the gateway in a pipeline with no transport: three
spoken turns, the second and third spoken over the bot's answer (barge-in). The service sends
`conversation.item.truncate` for the answer it was playing, as it does with a real transport;
any realtime error would be fatal to it, so every error frame is reported."""

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
    LLMFullResponseEndFrame,
    TTSAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

MODEL = sys.argv[1]
RATE = 24_000
TURN_SECONDS = 90


class Watch(FrameProcessor):
    """Notes the bot's audio, the end of each answer and any error, in either direction."""

    def __init__(self, seen: dict[str, Any], answer: asyncio.Event, ended: asyncio.Event) -> None:
        super().__init__()
        self.seen, self.answer, self.ended = seen, answer, ended

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.seen["audio_bytes"] += len(frame.audio)
            self.answer.set()
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.seen["answers_ended"] += 1
            self.ended.set()
        elif isinstance(frame, ErrorFrame):
            self.seen["errors"].append(str(frame.error))
        await self.push_frame(frame, direction)


def speech(path: str) -> list[InputAudioRawFrame]:
    """The spoken WAV, then a second of silence, as 20 ms input frames at its own rate."""
    with wave.open(path, "rb") as wav:
        assert wav.getnchannels() == 1
        rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes()) + bytes(rate * 2)
    chunk = rate * 2 // 50
    return [InputAudioRawFrame(pcm[i : i + chunk], rate, 1) for i in range(0, len(pcm), chunk)]


async def barge_in(config: dict[str, Any]) -> dict[str, Any]:
    base = config["base_url"].replace("http", "ws", 1) + "/realtime"
    service = OpenAIRealtimeLLMService(
        api_key=config["api_key"],
        base_url=base,
        model=MODEL,
    )
    sent: list[str] = []
    send = service.send_client_event

    async def recording(event: Any) -> None:
        sent.append(event.type)
        await send(event)

    service.send_client_event = recording  # type: ignore[method-assign]
    seen: dict[str, Any] = {"audio_bytes": 0, "answers_ended": 0, "errors": []}
    answer, ended = asyncio.Event(), asyncio.Event()
    upstream, downstream = Watch(seen, answer, ended), Watch(seen, answer, ended)
    task = PipelineTask(
        Pipeline([upstream, service, downstream]),
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
    )
    runner = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    answers = []
    try:
        for turn in range(3):
            answer.clear()
            ended.clear()
            await task.queue_frames(speech(config["wav_path"]))
            # The next turn is spoken as soon as this answer starts: over the bot.
            await asyncio.wait_for(answer.wait(), TURN_SECONDS)
            if turn == 2:
                await asyncio.wait_for(ended.wait(), TURN_SECONDS)
            answers.append(seen["audio_bytes"])
    finally:
        await task.queue_frame(EndFrame())
        await asyncio.wait_for(runner, TURN_SECONDS)
    return {"sent": sent, "answers": answers, **seen}


run({"barge_in": barge_in})
