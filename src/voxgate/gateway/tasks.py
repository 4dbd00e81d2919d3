"""Which task a unified request asks for, with `auto` resolved from the model and the input."""

from voxgate.catalog.schema import ModelRow
from voxgate.gateway.inputs import looks_like_audio
from voxgate.gateway.validation import UnifiedRequest
from voxgate.types import Task

__all__ = ["is_speech_to_text", "looks_like_audio", "resolve_task"]

_SPEECH_TO_TEXT: tuple[Task, ...] = ("transcription", "translation")


def resolve_task(row: ModelRow, request: UnifiedRequest) -> Task:
    # The row's field table accepts only its own tasks, so a named task is one it supports.
    if request.task != "auto":
        return request.task
    if "transcription" in row.tasks and request.holds_audio:
        return "transcription"
    return row.default_task


def is_speech_to_text(task: Task) -> bool:
    return task in _SPEECH_TO_TEXT
