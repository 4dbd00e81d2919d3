"""Providers by capability and name, built from each provider's declaration: the one place a
route's provider name is looked up."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from voxgate.providers import azure_openai, gemini, openai, openai_compatible
from voxgate.providers import local as embedded
from voxgate.providers.declaration import Capability, ProviderDeclaration
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.local import LocalProvider
from voxgate.providers.protocols import (
    ChatAudioProvider,
    RealtimeProvider,
    SpeechProvider,
    StreamingChatProvider,
    StreamingSpeechProvider,
    StreamingTranscriptionProvider,
    TranscriptionProvider,
)

PROTOCOLS: Mapping[Capability, type] = MappingProxyType(
    {
        "speech": SpeechProvider,
        "transcription": TranscriptionProvider,
        "chat": ChatAudioProvider,
        "realtime": RealtimeProvider,
    }
)


@dataclass(frozen=True, slots=True)
class ProviderRegistry:
    speech: Mapping[str, SpeechProvider]
    transcription: Mapping[str, TranscriptionProvider]
    chat: Mapping[str, ChatAudioProvider]
    chat_stream: Mapping[str, StreamingChatProvider]
    speech_stream: Mapping[str, StreamingSpeechProvider]
    realtime: Mapping[str, RealtimeProvider]
    declarations: Mapping[str, ProviderDeclaration]
    # Defaulted, so that a registry made for a test of another capability need not name it.
    transcription_stream: Mapping[str, StreamingTranscriptionProvider] = field(default_factory=dict)


def build_registry(http: UpstreamHttp, local: LocalProvider) -> ProviderRegistry:
    """Every provider this build has, by the name its declaration gives and what it declares."""
    return registry_of(
        [
            (openai.DECLARATION, openai.openai_provider(http)),
            (azure_openai.DECLARATION, azure_openai.azure_openai_provider(http)),
            (openai_compatible.DECLARATION, openai_compatible.openai_compatible_provider(http)),
            (gemini.DECLARATION, gemini.GeminiProvider(http)),
            (embedded.DECLARATION, local),
        ]
    )


def registry_of(declared: list[tuple[ProviderDeclaration, Any]]) -> ProviderRegistry:
    """The capability maps; a provider that declares what it does not implement, or a name
    declared twice, stops start-up."""
    for declaration, provider in declared:
        for capability in declaration.capabilities:
            _check(declaration, provider, PROTOCOLS[capability], capability)
        if declaration.speech_streaming is not None:
            _check(declaration, provider, StreamingSpeechProvider, "streamed speech")
        if declaration.chat_streaming:
            _check(declaration, provider, StreamingChatProvider, "streamed chat")
        if declaration.transcription_streaming:
            _check(declaration, provider, StreamingTranscriptionProvider, "streamed transcripts")
    names = [declaration.name for declaration, _ in declared]
    if len(set(names)) != len(names):
        raise ValueError(f"a provider name is declared twice: {names}")

    def serving(capability: Capability) -> list[tuple[str, Any]]:
        return [(d.name, p) for d, p in declared if capability in d.capabilities]

    return ProviderRegistry(
        speech=dict(serving("speech")),
        transcription=dict(serving("transcription")),
        chat=dict(serving("chat")),
        chat_stream={d.name: p for d, p in declared if d.chat_streaming},
        speech_stream={d.name: p for d, p in declared if d.speech_streaming is not None},
        realtime=dict(serving("realtime")),
        declarations={d.name: d for d, _ in declared},
        transcription_stream={d.name: p for d, p in declared if d.transcription_streaming},
    )


def _check(declaration: ProviderDeclaration, provider: Any, protocol: type, what: str) -> None:
    if not isinstance(provider, protocol):
        raise TypeError(f"the {declaration.name} provider declares {what} but does not offer it")
