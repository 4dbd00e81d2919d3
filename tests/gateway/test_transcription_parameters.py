"""Which routes take OpenAI's transcription parameters is what their providers declare: a
parameter some route's provider takes is forwarded, one none takes is refused by name."""

import pytest

from voxgate.audio.pcm import PcmAudio
from voxgate.catalog.loader import load_catalog
from voxgate.catalog.schema import Route
from voxgate.errors import InvalidRequestError
from voxgate.gateway.jobs import JobOptions
from voxgate.gateway.transcription import TranscriptionJob
from voxgate.gateway.validation import UnifiedRequest
from voxgate.providers.declaration import ProviderDeclaration
from voxgate.providers.protocols import TranscriptionRequest, TranscriptionResult, Upstream
from voxgate.providers.registry import registry_of
from voxgate.routing.planner import RoutePlanner
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)


class Recognizer:
    async def transcribe(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> TranscriptionResult:
        raise NotImplementedError


# A provider that is not OpenAI-style but declares that it takes `temperature` and
# `chunking_strategy`.
TEMPERATE = ProviderDeclaration(
    "temperate",
    frozenset({"transcription"}),
    transcription_parameters=frozenset({"temperature", "chunking_strategy"}),
)
PLAIN = ProviderDeclaration("plain", frozenset({"transcription"}))


def job(provider: str, params: tuple[tuple[str, str], ...]) -> TranscriptionJob:
    whisper = CATALOG.get("whisper-1")
    assert whisper is not None
    row = whisper.model_copy(update={"routes": (Route(provider=provider, upstream_model="m"),)})
    return TranscriptionJob(
        row=row,
        request=UnifiedRequest(model=row.id, task="transcription", input=""),
        audio=PcmAudio(b"", 16_000),
        upload=b"",
        providers=registry_of([(TEMPERATE, Recognizer()), (PLAIN, Recognizer())]),
        options=JobOptions(params=params),
    )


def test_a_parameter_the_route_declares_is_planned() -> None:
    params = (
        ("response_format", "verbose_json"),
        ("temperature", "0.2"),
        ("chunking_strategy[type]", "server_vad"),
    )
    [attempt] = job("temperate", params).plan(RoutePlanner({}))
    assert attempt.route.provider == "temperate"


def test_a_parameter_no_route_declares_is_refused_by_name() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        job("temperate", (("temperature", "0.2"), ("include[]", "logprobs"))).plan(RoutePlanner({}))
    assert refused.value.param == "include[]" and refused.value.code == "unsupported_parameter"
    with pytest.raises(InvalidRequestError) as refused:
        job("plain", (("temperature", "0.2"),)).plan(RoutePlanner({}))
    assert refused.value.param == "temperature"


def test_what_every_route_honours_needs_no_declaration() -> None:
    params = (("response_format", "verbose_json"), ("timestamp_granularities[]", "word"))
    [attempt] = job("plain", params).plan(RoutePlanner({}))
    assert attempt.route.provider == "plain"
