"""The request bodies every benchmark sends: small, so the gateway's own work dominates."""

from typing import Any

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
