"""POST audio/transcriptions and audio/translations: the client's file and parameters as OpenAI
takes them, and its answer kept whole for the endpoints that pass it on, or streamed as its
`transcript.text.*` events."""

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import aiohttp

from voxgate.audio.encode import wav
from voxgate.providers.declaration import UploadLimit
from voxgate.providers.errors import NotStreamed, UpstreamError
from voxgate.providers.http import json_answer
from voxgate.providers.protocols import (
    ProviderUsage,
    TranscriptEvent,
    TranscriptionRequest,
    TranscriptionResult,
    TranscriptSegment,
    TranscriptWord,
    Upstream,
    whole_transcript_events,
)

if TYPE_CHECKING:
    from voxgate.providers.openai_style import OpenAIStyleProvider

# OpenAI's transcription parameters beyond the ones every route honours (the response format
# and timestamp granularities, which the gateway renders itself): sent upstream as the client
# gave them, by OpenAI-style providers alone.
PARAMETERS = frozenset(
    {
        "temperature",
        "include[]",
        "chunking_strategy",
        "keywords[]",
        "languages[]",
        "known_speaker_names[]",
        "known_speaker_references[]",
    }
)
# The containers OpenAI's and Azure's upload endpoints take (mp3, mp4, mpeg, mpga, m4a, wav,
# webm, ogg, flac), by the name `gateway.inputs.container_of` gives them: file name, media type.
ACCEPTED_CONTAINERS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "wav": ("audio.wav", "audio/wav"),
        "mp3": ("audio.mp3", "audio/mpeg"),
        "ogg": ("audio.ogg", "audio/ogg"),
        "flac": ("audio.flac", "audio/flac"),
        "mp4": ("audio.m4a", "audio/mp4"),
        "webm": ("audio.webm", "audio/webm"),
    }
)
# OpenAI's limit on one upload (Azure's is the same): 25 MB, whatever the container.
UPLOAD_LIMIT = UploadLimit(max_bytes=25 * 1024 * 1024, containers=frozenset(ACCEPTED_CONTAINERS))
# Any other container goes as the decoded samples in a WAV, mono at the recognizer's 16 kHz
# (two thirds of the 24 kHz WAV every upload used to become): a copy of the samples, cheap
# enough to write on the event loop; 13 minutes fit OpenAI's 25 MB.


# The model families that do not stream (OpenAI ignores `stream` for whisper-1 and answers
# whole; Azure's whisper deployments likewise). Every other model of these protocols streams:
# the gpt-4o transcribe family, and compatible servers (Speaches, vLLM) whatever their model.
STREAMLESS_MODEL_PREFIX = "whisper"
# What a streamed transcript is asked in: OpenAI streams its json format only, without timestamps.
WHOLE_ANSWER_ONLY = frozenset({"response_format", "timestamp_granularities[]"})


def streams(upstream: Upstream) -> bool:
    return not upstream.model.startswith(STREAMLESS_MODEL_PREFIX)


async def stream(
    provider: "OpenAIStyleProvider", request: TranscriptionRequest, upstream: Upstream
) -> AsyncIterator[TranscriptEvent]:
    """The transcript's events as the provider sends them, up to `transcript.text.done`; a
    model that does not stream (and a translation, which OpenAI never streams) answers whole.
    A stream that stops before its done event was cut short."""
    if request.translate or not streams(upstream):
        for whole in whole_transcript_events(await provider.transcribe(request, upstream)):
            yield whole
        return
    endpoints = provider.endpoints
    events = provider.http.post_events(
        provider.name,
        endpoints.url(upstream, "audio/transcriptions"),
        headers=endpoints.headers(upstream),
        data=stream_form(request, endpoints.body_model(upstream)),
    )
    async with aclosing(events):  # type: ignore[type-var]
        try:
            async for event in events:
                if event.get("type") == "error" or "error" in event:
                    raise UpstreamError(provider.name, f"the stream failed: {str(event)[:200]}")
                yield TranscriptEvent(event)
                if event.get("type") == "transcript.text.done":
                    return
        except NotStreamed as whole:  # a server that ignores `stream`
            answer = result(provider.name, json_answer(provider.name, whole.body), request)
            for whole_event in whole_transcript_events(answer):
                yield whole_event
            return
    raise UpstreamError(
        provider.name, "the transcript stream ended before transcript.text.done", status=502
    )


def stream_form(request: TranscriptionRequest, model: str | None) -> aiohttp.FormData:
    params = tuple((name, value) for name, value in request.params if name not in WHOLE_ANSWER_ONLY)
    streamed = request.model_copy(update={"params": params, "word_timestamps": False})
    data = form(streamed, model, response_format="json")
    data.add_field("stream", "true")
    return data


def form(
    request: TranscriptionRequest, model: str | None, *, response_format: str = "verbose_json"
) -> aiohttp.FormData:
    """The upload; `response_format` where the client named none (verbose, by default, for
    the segments and duration that captions and the unified answer need)."""
    data = aiohttp.FormData()
    filename, content_type, content = _file(request)
    data.add_field("file", content, filename=filename, content_type=content_type)
    if model:
        data.add_field("model", model)
    if request.language and not request.translate:
        data.add_field("language", request.language)
    if request.prompt:
        data.add_field("prompt", request.prompt)
    for name, value in request.params:
        data.add_field(name, value)
    named = {name for name, _ in request.params}
    if "response_format" not in named:
        data.add_field("response_format", response_format)
    if request.word_timestamps and "timestamp_granularities[]" not in named:
        for granularity in ("word", "segment"):
            data.add_field("timestamp_granularities[]", granularity)
    return data


def result(provider: str, payload: Any, request: TranscriptionRequest) -> TranscriptionResult:
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        raise UpstreamError(provider, "the transcription answer has no text")
    try:
        segments = tuple(
            TranscriptSegment(float(s["start"]), float(s["end"]), str(s["text"]).strip())
            for s in payload.get("segments") or ()
        )
        words = tuple(
            TranscriptWord(float(w["start"]), float(w["end"]), str(w["word"]))
            for w in payload.get("words") or ()
        )
        duration = float(payload.get("duration") or request.audio.duration_seconds)
    except (KeyError, TypeError, ValueError) as exc:
        # A 200 whose body is not what the protocol promises: another route may do better.
        raise UpstreamError(
            provider, f"malformed segments or words in the answer: {exc!r}"
        ) from exc
    usage = payload.get("usage")
    seconds = (
        usage.get("seconds")
        if isinstance(usage, dict) and usage.get("type") == "duration"
        else None
    )
    return TranscriptionResult(
        text=payload["text"].strip(),
        language=str(payload.get("language") or request.language or "en"),
        duration_seconds=duration,
        segments=segments,
        words=words,
        usage=ProviderUsage(audio_seconds=float(seconds) if seconds is not None else None),
        body=payload,
    )


def _file(request: TranscriptionRequest) -> tuple[str, str, bytes]:
    """The client's file when the provider takes its container; otherwise a compact copy."""
    if request.upload is not None:
        accepted = ACCEPTED_CONTAINERS.get(request.container or "")
        if accepted is not None:
            return *accepted, request.upload
    return "audio.wav", "audio/wav", wav(request.audio)
