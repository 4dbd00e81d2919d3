"""The realtime WebSocket protocol as the simulator speaks it (OpenAI and Azure paths).

Audio appended by the client is heard with the engine on commit; `response.create` answers with
speech deltas, the transcript, and `response.done` carrying token usage.
"""

import base64
import math
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from voxgate.audio.pcm import PcmAudio
from voxgate.simulator.engine import RATE, SimEngine

CHUNK_BYTES = RATE * 2 // 5  # 200 ms of 24 kHz PCM16
TOKENS_PER_SECOND_IN, TOKENS_PER_SECOND_OUT = 10, 20


async def serve_realtime(websocket: WebSocket, engine: SimEngine, credential: str | None) -> None:
    if not credential:
        await websocket.close(1008, "missing credential")
        return
    await websocket.accept()
    session: dict[str, Any] = {"voice": "alloy", "instructions": ""}
    buffer = bytearray()
    heard = ""
    await _send(websocket, {"type": "session.created", "session": session})
    try:
        while True:
            event = orjson.loads(await websocket.receive_text())
            kind = event.get("type")
            if kind == "session.update":
                session |= event.get("session") or {}
                await _send(websocket, {"type": "session.updated", "session": session})
            elif kind == "input_audio_buffer.append":
                buffer += base64.b64decode(event.get("audio", ""))
            elif kind == "input_audio_buffer.commit":
                audio = PcmAudio(bytes(buffer[: len(buffer) // 2 * 2]), RATE)
                heard = (await engine.hear(audio)).text if buffer else ""
                await _send(websocket, {"type": "input_audio_buffer.committed"})
                await _send(
                    websocket,
                    {
                        "type": "conversation.item.input_audio_transcription.completed",
                        "transcript": heard,
                    },
                )
                heard_seconds, buffer = audio.duration_seconds, bytearray()
                session["_heard_seconds"] = heard_seconds
            elif kind == "response.create":
                await _respond(websocket, engine, session, heard)
    except WebSocketDisconnect:
        return


async def _respond(
    websocket: WebSocket, engine: SimEngine, session: dict[str, Any], heard: str
) -> None:
    reply = f"The simulator heard: {heard}" if heard else "Hello from the simulator."
    audio = await engine.speak(reply)
    response_id = f"resp_{abs(hash(reply)) % 10**8}"
    await _send(websocket, {"type": "response.created", "response": {"id": response_id}})
    for start in range(0, len(audio.samples), CHUNK_BYTES):
        delta = base64.b64encode(audio.samples[start : start + CHUNK_BYTES]).decode()
        await _send(
            websocket,
            {"type": "response.output_audio.delta", "response_id": response_id, "delta": delta},
        )
    await _send(websocket, {"type": "response.output_audio_transcript.done", "transcript": reply})
    audio_in = math.ceil(float(session.pop("_heard_seconds", 0.0)) * TOKENS_PER_SECOND_IN)
    audio_out = math.ceil(audio.duration_seconds * TOKENS_PER_SECOND_OUT)
    text_in = len(str(session.get("instructions", "")).split()) + 1
    text_out = len(reply.split())
    usage = {
        "total_tokens": audio_in + audio_out + text_in + text_out,
        "input_tokens": audio_in + text_in,
        "output_tokens": audio_out + text_out,
        "input_token_details": {
            "text_tokens": text_in,
            "audio_tokens": audio_in,
            "cached_tokens": 0,
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }
    await _send(
        websocket,
        {
            "type": "response.done",
            "response": {"id": response_id, "status": "completed", "usage": usage},
        },
    )


async def _send(websocket: WebSocket, event: dict[str, Any]) -> None:
    await websocket.send_text(orjson.dumps(event).decode())
