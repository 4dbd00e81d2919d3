"""The request bodies every benchmark sends: small, so the gateway's own work dominates."""

import io
import math
import struct
import wave
from typing import Any

from bench.wrk import RawBody

# Straight to the simulator (OpenAI's speech API), and the same through the unified endpoint.
SPEECH: dict[str, Any] = {
    "model": "gpt-4o-mini-tts",
    "input": "Hi.",
    "voice": "coral",
    "response_format": "pcm",
}
UNIFIED_SPEECH: dict[str, Any] = {**SPEECH, "response_format": "pcm16"}
CHAT: dict[str, Any] = {
    "model": "gpt-audio",
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "wav"},
    "messages": [{"role": "user", "content": "Say hi."}],
}
STREAMED_SPEECH: dict[str, Any] = {**SPEECH, "stream_format": "sse"}
# OpenAI streams audio chat only as pcm16.
STREAMED_CHAT: dict[str, Any] = {
    **CHAT,
    "audio": {"voice": "alloy", "format": "pcm16"},
    "stream": True,
    "stream_options": {"include_usage": True},
}
TRANSCRIPTION_MODEL = "whisper-1"
TRANSCRIPTION_SECONDS = 0.5
BOUNDARY = "voxgate-bench-boundary"


def transcription_upload() -> RawBody:
    """A multipart upload of a short WAV tone, as OpenAI's clients send a transcription."""
    fields = {"model": TRANSCRIPTION_MODEL, "response_format": "json"}
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    file_header = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="tone.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    )
    data = b"".join([*parts, file_header.encode(), _wav_tone(), f"\r\n--{BOUNDARY}--\r\n".encode()])
    return RawBody(f"multipart/form-data; boundary={BOUNDARY}", data)


def _wav_tone(rate: int = 16_000) -> bytes:
    """A 440 Hz tone, 16-bit mono: real audio, so the gateway decodes and measures it."""
    count = int(rate * TRANSCRIPTION_SECONDS)
    samples = [int(6000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(count)]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(struct.pack(f"<{count}h", *samples))
    return buffer.getvalue()
