"""Shared by the client scripts: read the run's settings, run each call, print one JSON line.

A call that raises is reported by the client's own exception class and message, so the test
on the pytest side can name what the client saw.
"""

import asyncio
import base64
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

Call = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def settings() -> dict[str, Any]:
    """base_url (the gateway's /v1), api_key, wav_path, sentence: given as JSON on stdin;
    the WAV's bytes are read here, before any call, as "wav"."""
    loaded: dict[str, Any] = json.load(sys.stdin)
    with open(loaded["wav_path"], "rb") as wav:
        loaded["wav"] = wav.read()
    return loaded


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _outcome(call: Call, config: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"ok": await call(config)}
    except Exception as exc:  # the client's own error is the result
        return {
            "error": {
                "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "message": str(exc)[:4000],
                "traceback": traceback.format_exc()[-4000:],
            }
        }


def run(calls: dict[str, Call]) -> None:
    config = settings()

    async def all_calls() -> dict[str, Any]:
        return {name: await _outcome(call, config) for name, call in calls.items()}

    print(json.dumps(asyncio.run(all_calls())))
