"""Which task a unified request asks for, with `auto` resolved from the model and the input."""

import base64
import binascii

from voxgate.catalog.schema import ModelRow
from voxgate.gateway.validation import UnifiedRequest
from voxgate.types import Task

# The first bytes of the containers we decode: WAV, MP3 (ID3 tag or frame sync), Ogg, FLAC,
# MP4/M4A ("ftyp" after a 4-byte size), Matroska/WebM, ADTS AAC.
_AUDIO_SIGNATURES = (b"RIFF", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"OggS", b"fLaC")
_EBML = b"\x1a\x45\xdf\xa3"
_SPEECH_TO_TEXT: tuple[Task, ...] = ("transcription", "translation")


def resolve_task(row: ModelRow, request: UnifiedRequest) -> Task:
    # The row's field table accepts only its own tasks, so a named task is one it supports.
    if request.task != "auto":
        return request.task
    if "transcription" in row.tasks and looks_like_audio(request.input):
        return "transcription"
    return row.default_task


def is_speech_to_text(task: Task) -> bool:
    return task in _SPEECH_TO_TEXT


def looks_like_audio(value: str) -> bool:
    if value.startswith("data:"):
        return value[5:].lower().startswith(("audio/", "video/webm", "application/ogg"))
    try:
        head = base64.b64decode(value[:64], validate=True)
    except (binascii.Error, ValueError):
        return False
    return head.startswith(_AUDIO_SIGNATURES) or head.startswith(_EBML) or head[4:8] == b"ftyp"
