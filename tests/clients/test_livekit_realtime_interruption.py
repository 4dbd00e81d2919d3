"""LiveKit Agents' OpenAI `RealtimeModel` interrupted (issue 26): when the user speaks over an
answer, LiveKit truncates the answer's item at the audio it played (`RealtimeSession.truncate`,
which sends `conversation.item.truncate`). On local-realtime the session goes on without an
error, and the next turn's chat call reads the answer as truncated."""

from typing import Any

from tests.clients.conftest import (
    CLIENTS_PYTHON,
    SCRIPTS,
    Served,
    needs_clients_venv,
    run_client,
    succeeded,
)

pytestmark = needs_clients_venv

SCRIPT = """
import asyncio
import sys
import wave

from livekit import rtc
from livekit.plugins.openai.realtime import RealtimeModel
from outcome import run

MODEL = sys.argv[1]
TURN_SECONDS = 90


def wav_frame(path):
    with wave.open(path, "rb") as wav:
        data, channels = wav.readframes(wav.getnframes()), wav.getnchannels()
        return rtc.AudioFrame(data, wav.getframerate(), channels, len(data) // (2 * channels))


def silence(seconds, rate=24000):
    samples = int(seconds * rate)
    return rtc.AudioFrame(bytes(2 * samples), rate, 1, samples)


async def reply_of(generation):
    replies = []
    async for message in generation.message_stream:
        texts, samples = [], 0
        async def read_text(stream):
            async for piece in stream:
                texts.append(str(piece))
        async def read_audio(stream):
            nonlocal samples
            async for frame in stream:
                samples += frame.samples_per_channel
        await asyncio.gather(read_text(message.text_stream), read_audio(message.audio_stream))
        replies.append({"id": message.message_id, "text": "".join(texts), "ms": samples // 24})
    return replies[0]


async def spoken_turn(session, generations, config):
    session.push_audio(wav_frame(config["wav_path"]))
    for _ in range(20):
        session.push_audio(silence(0.1))
    generation = await asyncio.wait_for(generations.get(), TURN_SECONDS)
    return await asyncio.wait_for(reply_of(generation), TURN_SECONDS)


async def interrupted(config):
    model = RealtimeModel(model=MODEL, base_url=config["base_url"], api_key=config["api_key"])
    session = model.session()
    generations = asyncio.Queue()
    errors = []
    session.on("generation_created", generations.put_nowait)
    session.on("error", lambda event: errors.append(repr(event.error)))
    try:
        first = await spoken_turn(session, generations, config)
        # The user spoke over the answer when half of it had played.
        session.truncate(message_id=first["id"], modalities=["audio"], audio_end_ms=first["ms"] // 2)
        second = await spoken_turn(session, generations, config)
    finally:
        await session.aclose()
        await model.aclose()
    return {"first": first, "second": second, "errors": errors}


run({"interrupted": interrupted})
"""


def chat_calls(served: Served) -> list[list[dict[str, Any]]]:
    """The messages of each chat call the local cascade made to the simulator."""
    return [
        entry["body"]["messages"]
        for entry in served.simulator.requests()
        if entry["path"].endswith("chat/completions") and isinstance(entry.get("body"), dict)
    ]


def test_an_interruption_truncates_the_answer_the_next_turn_reads(served: Served) -> None:
    before = len(chat_calls(served))
    results = run_client([str(CLIENTS_PYTHON), "-c", SCRIPT, "local-realtime"], served, SCRIPTS)
    answer = succeeded(results, "interrupted")
    assert answer["errors"] == []
    first, second = answer["first"], answer["second"]
    assert first["ms"] > 0 and first["text"].startswith("The simulator heard:"), first
    assert second["text"].startswith("The simulator heard:"), second
    calls = chat_calls(served)[before:]
    assert len(calls) == 2, calls
    [said] = [m["content"] for m in calls[1] if m["role"] == "assistant"]
    # The second turn reads the first answer as far as it was heard: a shorter start of it.
    assert 0 < len(said) < len(first["text"]) and first["text"].startswith(said), said
