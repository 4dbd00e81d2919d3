"""Standard chat parameters reach only the routes that list them (a stub provider beneath)."""

from typing import Any

from voxgate.billing.metering import TokenCounter
from voxgate.catalog.loader import load_catalog
from voxgate.catalog.schema import Route
from voxgate.gateway.chat_completion import ChatCompletionJob
from voxgate.providers.protocols import ChatAudioRequest, ChatAudioResult, Upstream
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.planner import PlannedAttempt
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)


class RecordingProvider:
    def __init__(self) -> None:
        self.seen: list[ChatAudioRequest] = []

    async def chat(self, request: ChatAudioRequest, upstream: Upstream) -> ChatAudioResult:
        self.seen.append(request)
        return ChatAudioResult(text="ok", audio=None)


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
        providers=ProviderRegistry({}, {}, {}, {}, {}),
        tokens=TokenCounter(),
    )


async def test_only_supported_parameters_are_passed_on() -> None:
    provider = RecordingProvider()
    narrow = Route(
        provider="openai-compatible", upstream_model="m", chat_parameters=("temperature",)
    )
    attempt = PlannedAttempt(provider, narrow, Upstream(model="m"), None)
    await job({"temperature": 0.2, "seed": 7, "logit_bias": {"1": 5}}).run(attempt)
    assert provider.seen[0].params == {"temperature": 0.2}


async def test_voices_are_mapped_for_the_serving_provider() -> None:
    provider = RecordingProvider()
    gemini_like = Route(provider="local", upstream_model="m")
    await job({}).run(PlannedAttempt(provider, gemini_like, Upstream(model="m"), None))
    assert provider.seen[0].voice == "joe"
