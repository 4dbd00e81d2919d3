"""Chat parameters are sent to routes that take them, and refused by name where none does."""

from dataclasses import replace
from typing import Any

import pytest

from voxgate.billing.metering import TokenCounter
from voxgate.catalog.loader import load_catalog
from voxgate.catalog.schema import Route
from voxgate.errors import InvalidRequestError
from voxgate.gateway.chat import output_cap
from voxgate.gateway.chat_completion import ChatCompletionJob, check_parameters
from voxgate.providers.declaration import ProviderDeclaration
from voxgate.providers.protocols import (
    ChatAudioProvider,
    ChatAudioRequest,
    ChatAudioResult,
    Upstream,
)
from voxgate.providers.registry import ProviderEntry, ProviderRegistry
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)


class RecordingProvider:
    def __init__(self) -> None:
        self.seen: list[ChatAudioRequest] = []

    async def chat(self, request: ChatAudioRequest, upstream: Upstream) -> ChatAudioResult:
        self.seen.append(request)
        return ChatAudioResult(text="ok", audio=None)


def registry(chat: dict[str, Any], chat_stream: dict[str, Any] | None = None) -> ProviderRegistry:
    """Chat providers by name, those in `chat_stream` streaming too."""
    streams = chat_stream or {}
    return ProviderRegistry(
        ProviderEntry(
            ProviderDeclaration(name, frozenset({"chat"}), chat_streaming=name in streams),
            chat=provider,
            chat_stream=streams.get(name),
        )
        for name, provider in chat.items()
    )


def job(parameters: dict[str, Any]) -> ChatCompletionJob:
    row = CATALOG.get("gpt-audio")
    assert row is not None
    return ChatCompletionJob(
        row=row,
        messages=({"role": "user", "content": "hi"},),
        parameters=parameters,
        voice="coral",
        max_output_tokens=None,
        voices=CATALOG.voices,
        providers=registry({}),
        tokens=TokenCounter(),
    )


def planned(job: ChatCompletionJob, *routes: Route) -> list[PlannedAttempt[Any]]:
    provider = RecordingProvider()
    row = job.row.model_copy(update={"routes": routes})
    chat = {route.provider: provider for route in routes}
    on_row = replace(job, row=row, providers=registry(chat))
    return on_row.plan(RoutePlanner({}))


def test_a_streamed_answer_is_planned_only_where_chat_streams() -> None:
    provider = RecordingProvider()
    row = job({}).row.model_copy(update={"routes": (NARROW, WIDE)})
    providers = registry({"openai-compatible": provider, "openai": provider}, {"openai": provider})
    whole = replace(job({}), row=row, providers=providers)
    assert [attempt.route for attempt in whole.plan(RoutePlanner({}))] == [NARROW, WIDE]
    streamed = replace(whole, streamed=True)
    assert [attempt.route for attempt in streamed.plan(RoutePlanner({}))] == [WIDE]


NARROW = Route(provider="openai-compatible", upstream_model="m", chat_parameters=("temperature",))
WIDE = Route(provider="openai", upstream_model="m", chat_parameters=("temperature", "seed"))


def test_a_parameter_only_some_routes_take_is_refused_rather_than_choosing_the_route() -> None:
    # Sent, `seed` would skip NARROW for WIDE: another upstream, at another price.
    with pytest.raises(InvalidRequestError) as refused:
        planned(job({"temperature": 0.2, "seed": 7}), NARROW, WIDE)
    assert refused.value.param == "seed" and refused.value.code == "unsupported_parameter"
    assert [attempt.route for attempt in planned(job({"temperature": 0.2}), NARROW, WIDE)] == [
        NARROW,
        WIDE,
    ]


def test_a_parameter_no_configured_route_takes_is_refused_by_name() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        planned(job({"temperature": 0.2, "seed": 7}), NARROW)
    assert refused.value.param == "seed" and refused.value.code == "unsupported_parameter"


def test_a_parameter_no_route_of_the_row_takes_is_refused_by_name() -> None:
    row = CATALOG.get("gpt-audio")
    assert row is not None
    check_parameters(row, {"temperature": 0.2})
    with pytest.raises(InvalidRequestError) as refused:
        check_parameters(row, {"temperature": 0.2, "no_such_parameter": 1})
    assert refused.value.param == "no_such_parameter"


async def test_every_parameter_given_is_sent() -> None:
    provider = RecordingProvider()
    attempt: PlannedAttempt[ChatAudioProvider] = PlannedAttempt(
        provider, WIDE, Upstream(model="m"), None
    )
    await job({"temperature": 0.2, "seed": 7}).run(attempt)
    assert provider.seen[0].params == {"temperature": 0.2, "seed": 7}


async def test_the_output_bound_held_is_the_one_sent() -> None:
    provider = RecordingProvider()
    attempt: PlannedAttempt[ChatAudioProvider] = PlannedAttempt(
        provider, WIDE, Upstream(model="m"), None
    )
    unbounded = job({})
    cap = output_cap(unbounded.row)
    assert 0 < cap <= (unbounded.row.max_output_tokens or 0)
    assert {m.output_text_tokens + m.output_audio_tokens for m in unbounded.worst_case()} == {cap}
    await unbounded.run(attempt)
    bounded = replace(unbounded, max_output_tokens=99)
    assert {m.output_text_tokens + m.output_audio_tokens for m in bounded.worst_case()} == {99}
    await bounded.run(attempt)
    assert [request.max_output_tokens for request in provider.seen] == [cap, 99]


async def test_voices_are_mapped_for_the_serving_provider() -> None:
    provider = RecordingProvider()
    gemini_like = Route(provider="local", upstream_model="m")
    await job({}).run(PlannedAttempt(provider, gemini_like, Upstream(model="m"), None))
    assert provider.seen[0].voice == "joe"
