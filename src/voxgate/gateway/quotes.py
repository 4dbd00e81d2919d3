"""What the reference pages quote about money, computed where money is: what a model's example
request holds, and a short request's usage object priced by its row."""

import math
from typing import Any

from voxgate.billing.pricing import Metered, cost, hold_amount
from voxgate.catalog.schema import ModelRow
from voxgate.gateway.jobs import usage_body
from voxgate.types import MicroUSD, Task

SAMPLE_SECONDS = 6


def typical_hold(row: ModelRow) -> MicroUSD | None:
    """The most the example payload holds: its input counted as one token per character (no
    token is shorter), and the row's output cap at the dearer of its output prices."""
    cap = row.default_output_tokens
    if cap is None:
        return None
    text_in = len(str(row.example.get("input", ""))) + len(str(row.example.get("instructions", "")))
    worst = [
        Metered(input_text_tokens=text_in, output_text_tokens=cap),
        Metered(input_text_tokens=text_in, output_audio_tokens=cap),
    ]
    return hold_amount(row.pricing, worst)


def sample_usage(row: ModelRow, task: Task) -> dict[str, Any]:
    """The usage object the gateway would write for a short request of `task`, priced by the
    row: six seconds of audio, the example's text."""
    metered = _sample_metered(row, task)
    return usage_body(metered, cost(row.pricing, metered))


def _sample_metered(row: ModelRow, task: Task) -> Metered:
    if task == "realtime":
        return Metered(requests=0)  # minting a session is free; the session bills its work
    text = str(row.example.get("input", ""))
    milliseconds = SAMPLE_SECONDS * 1000
    if task in ("transcription", "translation"):
        return Metered(input_audio_tokens=10 * SAMPLE_SECONDS, audio_milliseconds=milliseconds)
    return Metered(
        input_text_tokens=math.ceil(len(text) / 4),
        output_text_tokens=10 if task == "audio_chat" else 0,
        output_audio_tokens=20 * SAMPLE_SECONDS,
        audio_milliseconds=milliseconds,
        input_characters=len(text),
    )
