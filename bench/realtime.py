"""Realtime: what the relay adds per event, per turn stage and to a session's set-up, and where
the local cascade's wait goes, each against calling the upstream directly in the same run.

Run: .venv/bin/python -m bench.realtime [--short]
- Set-up: from opening the socket to `session.created`, straight to the simulator, relayed
  through the gateway, and on the local cascade.
- Relay per event: round trips of session.update → session.updated, straight and relayed; the
  difference is the gateway's relay (two hops per round trip).
- Relay per stage: spoken turns committed by the client, straight and relayed; each stage
  (end of speech → final transcript → first model token → first audio byte) as the client sees
  it, timed by the gateway's own stage definitions (`gateway/realtime/stages.py`).
- Cascade per stage: spoken turns on `local-realtime` (Whisper tiny, the simulator's chat,
  Piper), their end found by the server's VAD; its baseline is the same three legs called by a
  client one after another over HTTP (the gateway's transcription, the simulator's chat, the
  first byte of the gateway's streamed speech).
"""

import asyncio
import base64
import io
import json
import math
import statistics
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import httpx
import websockets
from tests.gateway_process import (
    SIM_KEYS,
    simulated_providers,
    start_gateway,
    start_simulator,
    stop_gateway,
)

from voxgate.gateway.realtime.stages import STAGES, ResponseTimes, StageClock


@dataclass(frozen=True)
class Runs:
    round_trips: int
    setups: int
    relay_turns: int
    cascade_turns: int
    leg_runs: int


FULL = Runs(round_trips=500, setups=50, relay_turns=40, cascade_turns=20, leg_runs=5)
SHORT = Runs(round_trips=200, setups=20, relay_turns=15, cascade_turns=8, leg_runs=3)
# A turn's speech is sent in 100 ms pieces, as a client streams a microphone.
PIECE_BYTES = 4800
SILENCE = bytes(2 * 24_000)
TURN_TIMEOUT = 120


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def setup_seconds(url: str, headers: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        async with websockets.connect(url, additional_headers=headers) as socket:
            while json.loads(await socket.recv())["type"] != "session.created":
                pass
            times.append(time.perf_counter() - started)
    return times


async def round_trips(url: str, headers: dict[str, str], runs: int) -> list[float]:
    async with websockets.connect(url, additional_headers=headers) as socket:
        await socket.recv()  # session.created
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            await socket.send(
                json.dumps({"type": "session.update", "session": {"instructions": "x"}})
            )
            while json.loads(await socket.recv())["type"] != "session.updated":
                pass
            times.append(time.perf_counter() - started)
        return times


async def spoken_turns(
    url: str, headers: dict[str, str], pcm: bytes, turns: int, *, server_vad: bool
) -> list[ResponseTimes]:
    """`turns` spoken turns in one session, each answered before the next; the client's view
    of each response's stages. With `server_vad` the server finds the end of each turn in the
    second of silence after it; without, the client commits it and asks for the answer."""
    clock = StageClock()
    answered: list[ResponseTimes] = []
    clock.watch(answered.append, lambda step, seconds: None)
    async with websockets.connect(url, additional_headers=headers) as socket:
        if not server_vad:
            manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
            await socket.send(json.dumps({"type": "session.update", "session": manual}))
        for _ in range(turns):
            audio = pcm + SILENCE if server_vad else pcm
            for start in range(0, len(audio), PIECE_BYTES):
                chunk = base64.b64encode(audio[start : start + PIECE_BYTES]).decode()
                await socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
            if not server_vad:
                commit = {"type": "input_audio_buffer.commit"}
                clock.received(commit)
                await socket.send(json.dumps(commit))
                await socket.send(json.dumps({"type": "response.create"}))
            while True:
                event = json.loads(await asyncio.wait_for(socket.recv(), TURN_TIMEOUT))
                clock.sent(event)
                if event["type"] == "response.done":
                    break
    return answered


def legs_first_audio(gateway_url: str, sim_url: str, key: str, pcm: bytes) -> float:
    """Hear, answer and start speaking with three HTTP calls: the cascade without a session."""
    wav = base64.b64encode(_wav(pcm)).decode()
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        heard = client.post(
            f"{gateway_url}/api/v1/audio",
            headers=bearer(key),
            json={"model": "local-whisper-tiny-en", "input": f"data:audio/wav;base64,{wav}"},
        ).json()["data"]["text"]
        answer = client.post(
            f"{sim_url}/v1/chat/completions",
            headers=bearer("cascade-key"),
            json={"model": "llama3.2", "messages": [{"role": "user", "content": heard}]},
        ).json()["choices"][0]["message"]["content"]
        speech = {"model": "local-tts", "input": answer, "voice": "alloy", "response_format": "pcm"}
        with client.stream(
            "POST", f"{gateway_url}/v1/audio/speech", headers=bearer(key), json=speech
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


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (with few samples, p95 is the slowest but one or two)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def by_stage(responses: list[ResponseTimes]) -> dict[str, list[float]]:
    measured: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for response in responses:
        for stage, seconds in response.stages().items():
            measured[stage].append(seconds)
    return measured


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def compared(name: str, direct: list[float], through: list[float]) -> str:
    """A table row: p50 and p95 straight and through the gateway, and what the gateway adds."""
    if not direct or not through:
        return f"| {name} | — | — | — | — | — |"
    d50, t50 = statistics.median(direct), statistics.median(through)
    d95, t95 = percentile(direct, 0.95), percentile(through, 0.95)
    return f"| {name} | {ms(d50)} | {ms(t50)} | **{ms(t50 - d50)}** | {ms(d95)} | {ms(t95)} |"


def question(gateway_url: str, key: str) -> bytes:
    speech = httpx.post(
        f"{gateway_url}/api/v1/audio",
        headers=bearer(key),
        json={
            "model": "local-tts",
            "input": "What time does the museum open?",
            "response_format": "pcm16",
        },
        timeout=60,
    ).json()
    return base64.b64decode(speech["data"]["audio_base64"])


def main(runs: Runs) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        sim_process, sim = start_simulator(root / "sim", fast=True)
        process, gateway = start_gateway(root / "gateway", simulated_providers(sim))
        try:
            key = gateway.new_workspace("bench", "100.00")
            ws = "ws" + gateway.base_url.removeprefix("http") + "/v1/realtime?model="
            # The very socket the gateway opens for gpt-audio-1.5's first route (Azure's path).
            direct_url = (
                "ws"
                + sim.base_url.removeprefix("http")
                + "/openai/realtime?api-version=2025-01-01-preview&deployment=gpt-audio-1.5"
            )
            direct_auth, ours = {"api-key": SIM_KEYS["azure"]}, bearer(key)
            pcm = question(gateway.base_url, key)
            # Warm both sides (the first session loads the VAD; the first turn the models).
            asyncio.run(spoken_turns(f"{ws}local-realtime", ours, pcm, 1, server_vad=True))
            asyncio.run(spoken_turns(f"{ws}gpt-audio-1.5", ours, pcm, 1, server_vad=False))
            setups = {
                "direct": asyncio.run(setup_seconds(direct_url, direct_auth, runs.setups)),
                "relayed": asyncio.run(setup_seconds(f"{ws}gpt-audio-1.5", ours, runs.setups)),
                "local": asyncio.run(setup_seconds(f"{ws}local-realtime", ours, runs.setups)),
            }
            trips = {
                "direct": asyncio.run(round_trips(direct_url, direct_auth, runs.round_trips)),
                "relayed": asyncio.run(round_trips(f"{ws}gpt-audio-1.5", ours, runs.round_trips)),
            }
            turns = {
                "direct": asyncio.run(
                    spoken_turns(direct_url, direct_auth, pcm, runs.relay_turns, server_vad=False)
                ),
                "relayed": asyncio.run(
                    spoken_turns(
                        f"{ws}gpt-audio-1.5", ours, pcm, runs.relay_turns, server_vad=False
                    )
                ),
            }
            cascade = asyncio.run(
                spoken_turns(f"{ws}local-realtime", ours, pcm, runs.cascade_turns, server_vad=True)
            )
            legs = [
                legs_first_audio(gateway.base_url, sim.base_url, key, pcm)
                for _ in range(runs.leg_runs)
            ]
        finally:
            stop_gateway(process)
            stop_gateway(sim_process)
    print(report(runs, setups, trips, turns, cascade, legs))


def report(
    runs: Runs,
    setups: dict[str, list[float]],
    trips: dict[str, list[float]],
    turns: dict[str, list[ResponseTimes]],
    cascade: list[ResponseTimes],
    legs: list[float],
) -> str:
    half = {name: [t / 2 for t in times] for name, times in trips.items()}
    direct_stages, relayed_stages = by_stage(turns["direct"]), by_stage(turns["relayed"])
    lines = [
        f"Relay, straight to the simulator vs through the gateway (ms; {runs.setups} set-ups, "
        f"{runs.round_trips} round trips, {runs.relay_turns} spoken turns each)",
        "",
        "| | direct p50 | relayed p50 | **added p50** | direct p95 | relayed p95 |",
        "|---|---:|---:|---:|---:|---:|",
        compared("set-up: socket opened to session.created", setups["direct"], setups["relayed"]),
        compared("one event (half a round trip)", half["direct"], half["relayed"]),
        *(
            compared(f"stage: {stage}", direct_stages[stage], relayed_stages[stage])
            for stage in STAGES
        ),
        "",
        f"Local cascade (`local-realtime`; {runs.cascade_turns} spoken turns in one session, "
        "ended by the server's VAD; ms)",
        "",
        "| stage | p50 | p95 |",
        "|---|---:|---:|",
    ]
    for stage, values in by_stage(cascade).items():
        if values:
            lines.append(
                f"| {stage} | {ms(statistics.median(values))} | {ms(percentile(values, 0.95))} |"
            )
    local = setups["local"]
    lines += [
        f"| set-up: socket opened to session.created | {ms(statistics.median(local))} "
        f"| {ms(percentile(local, 0.95))} |",
        f"| baseline: the same legs as three HTTP calls, to first audio "
        f"({runs.leg_runs} runs) | {ms(statistics.median(legs))} | {ms(max(legs))} |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main(SHORT if "--short" in sys.argv[1:] else FULL)
