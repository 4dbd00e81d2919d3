"""POST /v1/audio/transcriptions and /v1/audio/translations (multipart, as OpenAI takes them)."""

import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from voxgate.api.auth import authenticate
from voxgate.api.context import services_of
from voxgate.api.openai.captions import srt, vtt
from voxgate.api.openai.sse import event, sse_response
from voxgate.api.responses import JSONResponse
from voxgate.errors import GatewayError, InvalidRequestError, PayloadTooLargeError
from voxgate.gateway.inputs import MAX_AUDIO_BYTES
from voxgate.gateway.jobs import JobOptions
from voxgate.gateway.pipeline import Completed
from voxgate.gateway.streaming import Streamed
from voxgate.gateway.transcription import refuse_unforwarded
from voxgate.providers.protocols import (
    TranscriptEvent,
    TranscriptionResult,
    whole_transcript_events,
)
from voxgate.types import Task

MAX_FORM_FILES, MAX_FORM_FIELDS = 4, 64
RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
# The formats asked of an OpenAI-style route as they are; the captions and plain text are made
# here from a verbose answer's segments, so that every route can serve them.
UPSTREAM_FORMATS = ("json", "verbose_json")
GRANULARITIES = ("word", "segment")
INCLUDES = ("logprobs",)
UNIFIED_FIELDS = ("model", "language", "prompt")
# OpenAI's parameters that only its protocol's routes take: forwarded to them as sent.
FORWARDED_FIELDS = (
    "temperature",
    "include[]",
    "chunking_strategy",
    "keywords[]",
    "languages[]",
    "known_speaker_names[]",
    "known_speaker_references[]",
)
# `chunking_strategy` as an object arrives as bracketed keys: chunking_strategy[type]=server_vad.
CHUNKING_OBJECT = "chunking_strategy["
OWN_FIELDS = ("file", "response_format", "timestamp_granularities[]", "stream")


async def create_transcription(request: Request) -> Response:
    return await _speech_to_text(request, "transcription")


async def create_translation(request: Request) -> Response:
    return await _speech_to_text(request, "translation")


async def _speech_to_text(request: Request, task: Task) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    form = await _read_form(request)
    try:
        unified, options, fmt, stream = await _parse(form, task)
    finally:
        await form.close()  # spooled uploads go now, not whenever the collector runs
    row = services.catalog.get(str(unified.get("model")))
    if row is not None and row.interface != "audio":
        # Served by a chat model, which takes none of OpenAI's transcription parameters.
        refuse_unforwarded(row, options.params)
    request_id = request.state.request_id
    try:
        if stream and task == "transcription" and row is not None and row.interface == "audio":
            streamed = await services.gateway.stream_unified(
                principal, unified, request_id, options
            )
            return sse_response(_relayed(streamed))
        completed = await services.gateway.handle(principal, unified, request_id, options)
    except InvalidRequestError as exc:
        raise _named_for_this_form(exc) from None
    result = _transcript(completed)
    if stream:
        # A chat model's transcript, or a translation (which OpenAI does not stream): whole.
        return sse_response(_whole(result))
    return _render(result, completed, fmt, task, options)


async def _read_form(request: Request) -> FormData:
    try:
        # One file and OpenAI's dozen fields: a body of thousands of parts is refused early.
        return await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
    except HTTPException as exc:  # Starlette's multipart parser refused the body
        raise InvalidRequestError(
            f"The request body is not a valid form ({exc.detail}); send multipart/form-data "
            "with the audio in a 'file' part.",
            code="invalid_form",
        ) from exc


async def _parse(form: FormData, task: Task) -> tuple[dict[str, Any], JobOptions, str, bool]:
    _check_fields(form)
    data = await _upload(form)
    fmt = str(form.get("response_format") or "json")
    if fmt not in RESPONSE_FORMATS:
        raise InvalidRequestError(
            f"Invalid value for 'response_format': {fmt!r}; use {', '.join(RESPONSE_FORMATS)}.",
            param="response_format",
            code="invalid_value",
        )
    granularities = [str(g) for g in form.getlist("timestamp_granularities[]")]
    if any(g not in GRANULARITIES for g in granularities):
        raise InvalidRequestError(
            "timestamp_granularities[] takes word and segment.", param="timestamp_granularities[]"
        )
    if granularities and fmt != "verbose_json":
        raise InvalidRequestError(
            "timestamp_granularities[] needs response_format verbose_json.",
            param="timestamp_granularities[]",
        )
    _check_forwarded(form)
    stream = str(form.get("stream") or "false").lower() == "true"
    unified: dict[str, Any] = {
        name: str(form[name]) for name in UNIFIED_FIELDS if form.get(name) not in (None, "")
    }
    # The file goes on as its bytes (the gateway's validation takes them as an upload).
    unified |= {"task": task, "input": data}
    upstream_format = fmt if fmt in UPSTREAM_FORMATS else "verbose_json"
    params = (
        ("response_format", upstream_format),
        *(("timestamp_granularities[]", g) for g in granularities),
        *((name, str(value)) for name, value in form.multi_items() if _forwarded(name)),
    )
    options = JobOptions(word_timestamps="word" in granularities, params=params)
    return unified, options, fmt, stream


async def _upload(form: FormData) -> bytes:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidRequestError(
            "Missing required parameter: 'file'."
            if upload is None
            else "Field 'file' must be a file upload (multipart), not a text field.",
            param="file",
            code="missing_required_parameter" if upload is None else "invalid_type",
        )
    data = await upload.read(MAX_AUDIO_BYTES + 1)
    if len(data) > MAX_AUDIO_BYTES:
        raise PayloadTooLargeError(
            f"The file is larger than {MAX_AUDIO_BYTES // (1024 * 1024)} MB.", param="file"
        )
    return data


def _check_fields(form: FormData) -> None:
    for name in form:
        if not (_forwarded(name) or name in OWN_FIELDS or name in UNIFIED_FIELDS):
            raise InvalidRequestError(
                f"Unrecognized request argument supplied: {name or '(a part with no name)'}.",
                param=name,
                code="unknown_parameter",
            )
        if name != "file" and any(isinstance(value, UploadFile) for value in form.getlist(name)):
            # A text field sent as a file part would otherwise reach the model lookup (or an
            # error message) as the UploadFile's repr.
            raise InvalidRequestError(
                f"Field '{name}' must be a text field, not a file.",
                param=name,
                code="invalid_type",
            )


def _forwarded(name: str) -> bool:
    return name in FORWARDED_FIELDS or (name.startswith(CHUNKING_OBJECT) and name.endswith("]"))


def _check_forwarded(form: FormData) -> None:
    """The values OpenAI documents, checked here so that a mistake is a 400 before any upload."""
    temperature = form.get("temperature")
    if temperature is not None and not _number_between(str(temperature), 0.0, 1.0):
        raise InvalidRequestError(
            f"Invalid value for 'temperature': {str(temperature)[:32]!r}; use a number from 0 to 1.",
            param="temperature",
            code="invalid_value",
        )
    if any(value not in INCLUDES for value in form.getlist("include[]")):
        raise InvalidRequestError(
            f"include[] takes {', '.join(INCLUDES)}.", param="include[]", code="invalid_value"
        )
    chunking = form.get("chunking_strategy")
    kind = form.get(CHUNKING_OBJECT + "type]")
    if (chunking is not None and chunking != "auto") or (
        any(name.startswith(CHUNKING_OBJECT) for name in form) and kind != "server_vad"
    ):
        raise InvalidRequestError(
            "chunking_strategy is 'auto' or an object of type 'server_vad'.",
            param="chunking_strategy",
            code="invalid_value",
        )


def _number_between(value: str, low: float, high: float) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return low <= number <= high


def _named_for_this_form(exc: InvalidRequestError) -> InvalidRequestError:
    """The gateway names the audio 'input' (the unified field); this form calls it 'file'."""
    if exc.param == "input":
        exc.param = "file"
        exc.message = exc.message.replace("'input'", "'file'")
        exc.args = (exc.message,)
    return exc


def _transcript(completed: Completed) -> TranscriptionResult:
    """The recognizer's own result, or one made from a chat model's plain answer."""
    if isinstance(completed.outcome.result, TranscriptionResult):
        return completed.outcome.result
    data = completed.outcome.data
    return TranscriptionResult(data["text"], data.get("language") or "", data["duration"])


def _render(
    result: TranscriptionResult, completed: Completed, fmt: str, task: Task, options: JobOptions
) -> Response:
    if fmt == "text":
        return PlainTextResponse(result.text)
    if fmt == "srt":
        return PlainTextResponse(srt(result.segments))
    if fmt == "vtt":
        return PlainTextResponse(vtt(result.segments), media_type="text/vtt")
    if result.body:
        # Asked of the route in the client's own format: passed on as the provider sent it.
        return JSONResponse({"usage": _usage(result), **result.body})
    body: dict[str, Any] = {"text": result.text, "usage": _usage(result)}
    if fmt == "verbose_json":
        body |= {
            "task": "translate" if task == "translation" else "transcribe",
            "language": result.language,
            "duration": result.duration_seconds,
            "segments": [_segment(i, s) for i, s in enumerate(result.segments)],
        }
        if options.word_timestamps:
            body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in result.words]
    return JSONResponse(body)


def _segment(index: int, segment: Any) -> dict[str, Any]:
    return {
        "id": index,
        "seek": 0,
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": 0.0,
        "compression_ratio": 0.0,
        "no_speech_prob": 0.0,
    }


def _usage(result: TranscriptionResult) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(result.duration_seconds)}


async def _relayed(streamed: Streamed[TranscriptEvent]) -> AsyncIterator[bytes]:
    """Each event as the route sent it (or made it from a whole answer); a failure after the
    first ends the stream with an error event, which OpenAI's client raises as an APIError."""
    try:
        async with aclosing(streamed.chunks()) as chunks:
            async for chunk in chunks:
                yield event(chunk.event)
    except GatewayError as exc:
        yield event({"type": "error", "error": exc.body()["error"]})


async def _whole(result: TranscriptionResult) -> AsyncIterator[bytes]:
    for chunk in whole_transcript_events(result):
        yield event(chunk.event)
