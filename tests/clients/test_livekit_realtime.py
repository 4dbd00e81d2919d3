"""LiveKit Agents' OpenAI `RealtimeModel` (1.8.9, from PyPI) with its base_url at the gateway:
a two-turn spoken conversation on local-realtime, and through the relay to the simulator."""

import base64
import io
import wave

import httpx

from tests.audio_probe import word_recall
from tests.clients.conftest import (
    CLIENT_SECONDS,
    CLIENTS_PYTHON,
    SCRIPTS,
    Served,
    needs_clients_venv,
    run_client,
    succeeded,
)
from voxgate.simulator.engine import FAST_TRANSCRIPT

pytestmark = needs_clients_venv

# Run by the clients' Python in the client scripts' folder (for outcome.py); the model and
# each turn's reply come back as one JSON line.
SCRIPT = """
import asyncio
import sys
import wave

from livekit import rtc
from livekit.plugins.openai.realtime import RealtimeModel
from outcome import b64, run

MODEL = sys.argv[1]
TURN_SECONDS = 90


def wav_frame(path):
    with wave.open(path, "rb") as wav:
        data, channels = wav.readframes(wav.getnframes()), wav.getnchannels()
        # A streamed WAV's header may claim more frames than it holds: count what was read.
        return rtc.AudioFrame(data, wav.getframerate(), channels, len(data) // (2 * channels))


def silence(seconds, rate=24000):
    samples = int(seconds * rate)
    return rtc.AudioFrame(bytes(2 * samples), rate, 1, samples)


async def reply_of(generation):
    texts, frames = [], []

    async def read_text(stream):
        async for piece in stream:
            texts.append(str(piece))

    async def read_audio(stream):
        async for frame in stream:
            frames.append(frame)

    async for message in generation.message_stream:
        await asyncio.gather(read_text(message.text_stream), read_audio(message.audio_stream))
    wav = rtc.combine_audio_frames(frames).to_wav_bytes() if frames else b""
    return {"text": "".join(texts), "frames": len(frames), "wav": b64(wav)}


async def converse(config):
    model = RealtimeModel(model=MODEL, base_url=config["base_url"], api_key=config["api_key"])
    session = model.session()
    generations = asyncio.Queue()
    errors = []
    session.on("generation_created", generations.put_nowait)
    session.on("error", lambda event: errors.append(repr(event.error)))
    turns = []
    try:
        for _ in range(2):
            session.push_audio(wav_frame(config["wav_path"]))
            for _ in range(20):
                session.push_audio(silence(0.1))
            generation = await asyncio.wait_for(generations.get(), TURN_SECONDS)
            turns.append(await asyncio.wait_for(reply_of(generation), TURN_SECONDS))
    finally:
        await session.aclose()
        await model.aclose()
    return {"turns": turns, "errors": errors}


run({"converse": converse})
"""


def conversation(served: Served, model: str) -> list[dict[str, object]]:
    results = run_client([str(CLIENTS_PYTHON), "-c", SCRIPT, model], served, SCRIPTS)
    answer = succeeded(results, "converse")
    assert answer["errors"] == []
    turns: list[dict[str, object]] = answer["turns"]
    assert len(turns) == 2
    return turns


def heard_back(served: Served, wav: bytes) -> str:
    reply = httpx.post(
        f"{served.gateway.base_url}/api/v1/audio",
        headers={"Authorization": f"Bearer {served.key}"},
        json={
            "model": "local-whisper-tiny-en",
            "input": "data:audio/wav;base64," + base64.b64encode(wav).decode(),
        },
        timeout=CLIENT_SECONDS,
    )
    assert reply.status_code == 200, reply.text
    text: str = reply.json()["data"]["text"]
    return text


def seconds(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as file:
        return float(file.getnframes() / file.getframerate())


def test_a_two_turn_conversation_with_the_local_cascade(served: Served) -> None:
    for turn in conversation(served, "local-realtime"):
        text, wav = str(turn["text"]), base64.b64decode(str(turn["wav"]))
        # The chat route (the simulator's chat) answered what Whisper heard of the sentence.
        assert text.startswith("The simulator heard:"), text
        assert int(str(turn["frames"])) > 0 and seconds(wav) > 1
        # The second reply repeats the first one's sentence, and Whisper tiny often hears a
        # repeat once (and may mishear "please" as "police"): the reply's audio is known by its
        # words being in it, not by their count or order.
        assert word_recall(text, heard_back(served, wav)) >= 0.8


def test_a_two_turn_conversation_through_the_relay(served: Served) -> None:
    for turn in conversation(served, "gpt-audio-1.5"):
        # The fast simulator hears a fixed transcript and speaks a one-second tone.
        assert turn["text"] == f"The simulator heard: {FAST_TRANSCRIPT}"
        assert seconds(base64.b64decode(str(turn["wav"]))) >= 1
