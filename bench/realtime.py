"""Realtime: what the relay adds per event, and how soon the local cascade starts speaking.

Run: .venv/bin/python -m bench.realtime
Relay: round trips of session.update → session.updated, straight to the simulator and through
the gateway, in the same run; the difference is the gateway's relay (two hops per round trip).
Cascade: from the server's speech_stopped (end of the turn) to the first audio delta; its
baseline is the same three legs called by a client one after another over HTTP (the gateway's
transcription, the simulator's chat, the first byte of the gateway's streamed speech).
"""

import asyncio
import base64
import io
import json
import statistics
import tempfile
import time
import wave
from pathlib import Path

import httpx
import websockets
from tests.gateway_process import simulated_providers, start_gateway, start_simulator, stop_gateway

ROUND_TRIPS = 200


async def round_trips(url: str, headers: dict[str, str]) -> list[float]:
    async with websockets.connect(url, additional_headers=headers) as socket:
        await socket.recv()  # session.created
        times = []
        for _ in range(ROUND_TRIPS):
            started = time.perf_counter()
            await socket.send(
                json.dumps({"type": "session.update", "session": {"instructions": "x"}})
            )
            while json.loads(await socket.recv())["type"] != "session.updated":
                pass
            times.append(time.perf_counter() - started)
        return times


async def cascade_first_audio(url: str, key: str, pcm: bytes) -> float:
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {key}"}
    ) as socket:
        audio = pcm + bytes(2 * 24_000)
        for start in range(0, len(audio), 4800):
            chunk = base64.b64encode(audio[start : start + 4800]).decode()
            await socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        stopped = None
        while True:
            event = json.loads(await socket.recv())
            if event["type"] == "input_audio_buffer.speech_stopped":
                stopped = time.perf_counter()
            if event["type"] == "response.output_audio.delta" and stopped is not None:
                return time.perf_counter() - stopped


def legs_first_audio(gateway_url: str, sim_url: str, key: str, pcm: bytes) -> float:
    """Hear, answer and start speaking with three HTTP calls: the cascade without a session."""
    headers = {"Authorization": f"Bearer {key}"}
    wav = base64.b64encode(_wav(pcm)).decode()
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        heard = client.post(
            f"{gateway_url}/api/v1/audio",
            headers=headers,
            json={"model": "local-whisper-tiny-en", "input": f"data:audio/wav;base64,{wav}"},
        ).json()["data"]["text"]
        answer = client.post(
            f"{sim_url}/v1/chat/completions",
            headers={"Authorization": "Bearer cascade-key"},
            json={"model": "llama3.2", "messages": [{"role": "user", "content": heard}]},
        ).json()["choices"][0]["message"]["content"]
        speech = {"model": "local-tts", "input": answer, "voice": "alloy", "response_format": "pcm"}
        with client.stream(
            "POST", f"{gateway_url}/v1/audio/speech", headers=headers, json=speech
        ) as response:
            next(response.iter_bytes())
            return time.perf_counter() - started


def _wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(24_000)
        file.writeframes(pcm)
    return out.getvalue()


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        sim_process, sim = start_simulator(root / "sim")
        process, gateway = start_gateway(root / "gateway", simulated_providers(sim))
        try:
            key = gateway.new_workspace("bench", "10.00")
            direct_url = "ws" + sim.base_url.removeprefix("http") + "/v1/realtime?model=gpt-audio"
            relayed_url = (
                "ws" + gateway.base_url.removeprefix("http") + "/v1/realtime?model=gpt-audio-1.5"
            )
            direct = asyncio.run(round_trips(direct_url, {"Authorization": "Bearer primary-key"}))
            relayed = asyncio.run(round_trips(relayed_url, {"Authorization": f"Bearer {key}"}))
            speech = httpx.post(
                f"{gateway.base_url}/api/v1/audio",
                headers={"Authorization": f"Bearer {key}"},
                json={
                    "model": "local-tts",
                    "input": "What time does the museum open?",
                    "response_format": "pcm16",
                },
                timeout=60,
            ).json()
            pcm = base64.b64decode(speech["data"]["audio_base64"])
            cascade_url = (
                "ws" + gateway.base_url.removeprefix("http") + "/v1/realtime?model=local-realtime"
            )
            firsts = [asyncio.run(cascade_first_audio(cascade_url, key, pcm)) for _ in range(3)]
            baseline = [
                legs_first_audio(gateway.base_url, sim.base_url, key, pcm) for _ in range(3)
            ]
        finally:
            stop_gateway(process)
            stop_gateway(sim_process)
    added = statistics.median(relayed) - statistics.median(direct)
    print(f"round trip straight to the simulator: {statistics.median(direct) * 1000:7.2f} ms (p50)")
    print(
        f"round trip through the gateway:       {statistics.median(relayed) * 1000:7.2f} ms (p50)"
    )
    print(f"added per relayed event (half):       {added / 2 * 1000:7.2f} ms")
    print(
        f"cascade, end of speech to first audio: {statistics.median(firsts) * 1000:6.0f} ms (median of 3)"
    )
    print(
        f"the same legs as three HTTP calls:     {statistics.median(baseline) * 1000:6.0f} ms (median of 3)"
    )


if __name__ == "__main__":
    main()
