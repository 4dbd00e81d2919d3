"""Providers declared once: the registry's entries come from the declarations, and a declaration
a provider does not live up to stops start-up."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from voxgate.providers import azure_openai, gemini, local, openai, openai_compatible
from voxgate.providers.declaration import Capability, ProviderDeclaration, SpeechOutput
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.local import LocalProvider
from voxgate.providers.protocols import (
    ChatAudioRequest,
    ChatAudioResult,
    SpeechRequest,
    SpeechResult,
    Upstream,
)
from voxgate.providers.registry import build_registry, registry_of
from voxgate.settings import Settings

DECLARED = [
    openai.DECLARATION,
    azure_openai.DECLARATION,
    openai_compatible.DECLARATION,
    gemini.DECLARATION,
    local.DECLARATION,
]


def test_the_registry_is_what_the_declarations_say(tmp_path: Path) -> None:
    http = UpstreamHttp(timeout_seconds=5, max_response_bytes=1024)
    registry = build_registry(http, LocalProvider(Settings(data_dir=tmp_path)))
    assert set(registry.entries) == {declaration.name for declaration in DECLARED}
    lookups: dict[Capability, Callable[[str], object]] = {
        "speech": registry.speech,
        "transcription": registry.transcription,
        "chat": registry.chat,
        "realtime": registry.realtime,
    }
    for declaration in DECLARED:
        entry = registry.entry(declaration.name)
        assert entry.declaration == declaration
        for capability, serving in lookups.items():
            served = serving(declaration.name)
            assert (served is not None) == (capability in declaration.capabilities)
            assert served is getattr(entry, capability)
        assert (entry.speech_stream is not None) == (declaration.speech_streaming is not None)
        assert (entry.chat_stream is not None) == declaration.chat_streaming
        assert (entry.transcription_stream is not None) == declaration.transcription_streaming
    assert registry.speech("no-such-provider") is None
    assert registry.declaration("no-such-provider") is None


def test_every_chat_provider_streams_its_chat() -> None:
    assert {d.name for d in DECLARED if d.chat_streaming} == {
        d.name for d in DECLARED if "chat" in d.capabilities
    }


def test_every_provider_that_speaks_streams_its_speech() -> None:
    assert {d.name for d in DECLARED if d.speech_streaming} == {
        d.name for d in DECLARED if "speech" in d.capabilities
    }


def test_the_openai_style_providers_take_openais_transcription_parameters() -> None:
    takers = {d.name for d in DECLARED if d.takes_transcription_parameter("temperature")}
    assert takers == {"openai", "azure-openai", "openai-compatible"}
    openai_style = openai.DECLARATION
    assert openai_style.takes_transcription_parameter("include[]")
    assert openai_style.takes_transcription_parameter("chunking_strategy[type]")
    assert not openai_style.takes_transcription_parameter("no_such_parameter")
    with pytest.raises(ValueError, match="only a transcription provider takes its parameters"):
        ProviderDeclaration(
            "mute", frozenset({"realtime"}), transcription_parameters=frozenset({"x"})
        )


def test_each_server_is_asked_for_a_format_it_declares() -> None:
    outputs = {d.name: d.speech_output for d in DECLARED}
    assert outputs["openai"] == SpeechOutput("pcm", 24_000)
    # Compatible servers do not all offer raw pcm, nor speak at 24 kHz: WAV says its own rate.
    assert outputs["openai-compatible"] == SpeechOutput("wav", 24_000)


@dataclass(frozen=True)
class SpeechOnly:
    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult:
        raise NotImplementedError


@dataclass(frozen=True)
class ChatWithoutStream(SpeechOnly):
    async def chat(self, request: ChatAudioRequest, upstream: Upstream) -> ChatAudioResult:
        raise NotImplementedError


def test_a_declaration_the_provider_does_not_live_up_to_stops_start_up() -> None:
    claims_chat = ProviderDeclaration(
        "boasting", frozenset({"speech", "chat"}), SpeechOutput("pcm", 24_000)
    )
    with pytest.raises(TypeError, match="boasting provider declares chat"):
        registry_of([(claims_chat, SpeechOnly())])
    claims_streaming = ProviderDeclaration(
        "boasting", frozenset({"speech"}), SpeechOutput("pcm", 24_000), speech_streaming="sse"
    )
    with pytest.raises(TypeError, match="declares streamed speech"):
        registry_of([(claims_streaming, SpeechOnly())])
    claims_chat_streaming = ProviderDeclaration(
        "boasting",
        frozenset({"speech", "chat"}),
        SpeechOutput("pcm", 24_000),
        chat_streaming=True,
    )
    with pytest.raises(TypeError, match="declares streamed chat"):
        registry_of([(claims_chat_streaming, ChatWithoutStream())])
    honest = ProviderDeclaration("honest", frozenset({"speech"}), SpeechOutput("pcm", 24_000))
    with pytest.raises(ValueError, match="declared twice"):
        registry_of([(honest, SpeechOnly()), (honest, SpeechOnly())])


def test_an_entry_serves_only_what_its_provider_declares() -> None:
    speaks = ProviderDeclaration("quiet", frozenset({"speech"}), SpeechOutput("pcm", 24_000))
    registry = registry_of([(speaks, ChatWithoutStream())])
    entry = registry.entry("quiet")
    assert entry.speech is not None and registry.speech("quiet") is entry.speech
    assert entry.chat is None and registry.chat("quiet") is None


def test_a_speech_provider_states_its_output() -> None:
    with pytest.raises(ValueError, match="states its speech output"):
        ProviderDeclaration("mute", frozenset({"speech"}))


def test_only_a_chat_provider_streams_chat() -> None:
    with pytest.raises(ValueError, match="only a chat provider streams chat"):
        ProviderDeclaration("mute", frozenset({"transcription"}), chat_streaming=True)
