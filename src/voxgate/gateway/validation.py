"""Strict validation of a unified request against its model's catalog row."""

from dataclasses import dataclass, field
from typing import Any, cast

from voxgate.catalog.loader import Catalog
from voxgate.catalog.schema import FieldSpec, ModelRow
from voxgate.errors import InvalidRequestError, NotFoundError
from voxgate.gateway.inputs import audio_bytes, looks_like_audio
from voxgate.types import AudioFormat, RequestedTask

_SPEECH_TO_TEXT = ("transcription", "translation")
# The audio a realtime session speaks, by the names OpenAI's realtime API gives its formats.
REALTIME_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")
_JSON_TYPE_NAMES = {"string": "a string", "number": "a number", "integer": "an integer"}


@dataclass(frozen=True, slots=True)
class UnifiedRequest:
    """A request that passed its row's field table; absent optional fields are None."""

    model: str
    task: RequestedTask
    # The text, or audio as base64 or a data URL; empty where the audio came as `upload`.
    input: str
    voice: str | None = None
    response_format: AudioFormat | None = None
    speed: float | None = None
    instructions: str | None = None
    language: str | None = None
    prompt: str | None = None
    max_output_tokens: int | None = None
    # `response_format` of a realtime session, which speaks its own formats.
    realtime_format: str | None = None
    # The audio file as the client uploaded it (a multipart form's `file`), in place of `input`.
    upload: bytes | None = field(default=None, repr=False)

    @property
    def holds_audio(self) -> bool:
        """Whether the request carries an audio file: uploaded, or in `input` (base64 of a
        known container, or an audio data URL)."""
        return self.upload is not None or looks_like_audio(self.input)

    def audio_file(self) -> bytes:
        """The audio file's bytes: as uploaded, or decoded from `input`'s base64 (bounded and
        checked: see `inputs.audio_bytes`). The decoding is not kept, so take it once."""
        return self.upload if self.upload is not None else audio_bytes(self.input)


def validate(body: object, catalog: Catalog) -> tuple[ModelRow, UnifiedRequest]:
    """The request `body` on its row. Its `input` is a string (JSON), or the bytes of a file the
    client uploaded (a form parsed in process: JSON has no bytes)."""
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_body")
    row = _find_model(body, catalog)
    for name in body:
        if row.field(name) is None:
            raise _unknown_field(name, row)
    upload = body.get("input")
    if isinstance(upload, bytes):
        body = {**body, "input": "", "upload": upload}
    audio_input = _holds_audio(row, body)
    realtime = _is_realtime(row, body)
    for spec in row.fields:
        if realtime and spec.name == "response_format":
            _check_realtime_format(body.get(spec.name))
            continue
        if isinstance(upload, bytes) and spec.name == "input":
            _check_upload(spec, upload)
            continue
        # Audio is bounded by its decoded size and duration (gateway/inputs.py), not by the
        # characters its base64 takes: the field's text limit stays for text.
        text_limit = not (audio_input and spec.name == "input")
        _check_field(spec, body.get(spec.name), text_limit=text_limit)
    values = {name: value for name, value in body.items() if value is not None}
    if realtime and "response_format" in values:
        values["realtime_format"] = values.pop("response_format")
    values.setdefault("task", "auto")
    if "speed" in values:
        values["speed"] = float(values["speed"])
    return row, UnifiedRequest(**values)


def _find_model(body: dict[str, Any], catalog: Catalog) -> ModelRow:
    model = body.get("model")
    if model is None:
        raise InvalidRequestError(
            "Missing required field: 'model'.", param="model", code="missing_required_parameter"
        )
    if not isinstance(model, str):
        raise InvalidRequestError(
            "Field 'model' must be a string.", param="model", code="invalid_type"
        )
    row = catalog.get(model)
    if row is None:
        raise NotFoundError(
            f"The model '{model}' does not exist in this gateway's catalog; "
            "GET /api/v1/models lists the models.",
            param="model",
            code="model_not_found",
        )
    return row


def _holds_audio(row: ModelRow, body: dict[str, Any]) -> bool:
    """Whether `input` is audio for speech-to-text, as `tasks.resolve_task` will decide."""
    task, value = body.get("task") or "auto", body.get("input")
    if not isinstance(value, str) or task not in ("auto", *_SPEECH_TO_TEXT):
        return False
    if task != "auto":
        return task in row.tasks
    return "transcription" in row.tasks and looks_like_audio(value)


def _check_upload(spec: FieldSpec, upload: bytes) -> None:
    # An audio file is bounded by its size and duration (gateway/inputs.py), not as text.
    if spec.required and not upload:
        raise _invalid(spec, f"Field '{spec.name}' must not be empty.", "empty_input")


def _is_realtime(row: ModelRow, body: dict[str, Any]) -> bool:
    """Whether the request sets up a realtime session, as `tasks.resolve_task` will decide."""
    task = body.get("task") or "auto"
    return task == "realtime" or (task == "auto" and row.default_task == "realtime")


def _check_realtime_format(value: object) -> None:
    if value is not None and value not in REALTIME_FORMATS:
        raise InvalidRequestError(
            f"Invalid value for 'response_format': {_clip(str(value))!r}. A realtime session "
            f"speaks {', '.join(REALTIME_FORMATS)}.",
            param="response_format",
            code="invalid_value",
        )


def _unknown_field(name: str, row: ModelRow) -> InvalidRequestError:
    accepted = ", ".join(spec.name for spec in row.fields)
    return InvalidRequestError(
        f"Unrecognized field '{name}' for model '{row.id}'. Accepted fields: {accepted}.",
        param=name,
        code="unknown_parameter",
    )


def _check_field(spec: FieldSpec, value: object, *, text_limit: bool = True) -> None:
    # An optional field sent as null counts as absent, as OpenAI's API treats it.
    if value is None:
        if spec.required:
            raise InvalidRequestError(
                f"Missing required field: '{spec.name}'.",
                param=spec.name,
                code="missing_required_parameter",
            )
        return
    _check_type(spec, value)
    if spec.type == "string":
        _check_string(spec, cast(str, value), text_limit=text_limit)
    elif spec.type in ("number", "integer"):
        _check_range(spec, cast(float, value))


def _check_type(spec: FieldSpec, value: object) -> None:
    # bool is an int in Python, but true is not a number in JSON.
    valid = {
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }[spec.type]
    if not valid:
        expected = _JSON_TYPE_NAMES.get(spec.type, "a boolean")
        raise _invalid(spec, f"Field '{spec.name}' must be {expected}.", "invalid_type")


def _check_string(spec: FieldSpec, value: str, *, text_limit: bool) -> None:
    if spec.accepted is not None and value not in spec.accepted:
        raise _invalid(
            spec,
            f"Invalid value for '{spec.name}': '{_clip(value)}'. "
            f"Accepted values: {', '.join(spec.accepted)}.",
            "invalid_value",
        )
    if spec.required and not value.strip():
        raise _invalid(spec, f"Field '{spec.name}' must not be empty.", "empty_input")
    if text_limit and spec.max_length is not None and len(value) > spec.max_length:
        raise _invalid(
            spec,
            f"Field '{spec.name}' is {len(value)} characters long; "
            f"this model accepts at most {spec.max_length}.",
            "string_above_max_length",
        )


def _check_range(spec: FieldSpec, value: float) -> None:
    if spec.minimum is not None and value < spec.minimum:
        bound = f"at least {spec.minimum:g}"
    elif spec.maximum is not None and value > spec.maximum:
        bound = f"at most {spec.maximum:g}"
    else:
        return
    raise _invalid(spec, f"Field '{spec.name}' must be {bound}; got {value:g}.", "out_of_range")


def _invalid(spec: FieldSpec, message: str, code: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=spec.name, code=code)


def _clip(value: str, limit: int = 64) -> str:
    return value if len(value) <= limit else value[:limit] + "…"
