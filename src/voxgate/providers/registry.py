"""One entry per provider, built from its declaration: the one place a route's provider name is
looked up, read by capability (`registry.speech(name)`, `registry.entry(name).speech_stream`)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from voxgate.providers import azure_openai, gemini, openai, openai_compatible
from voxgate.providers import local as embedded
from voxgate.providers.declaration import ProviderDeclaration
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


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    """A provider's declaration, and what serves each capability it declares (None for each it
    does not declare, whatever else the object happens to offer)."""

    declaration: ProviderDeclaration
    speech: SpeechProvider | None = None
    speech_stream: StreamingSpeechProvider | None = None
    transcription: TranscriptionProvider | None = None
    transcription_stream: StreamingTranscriptionProvider | None = None
    chat: ChatAudioProvider | None = None
    chat_stream: StreamingChatProvider | None = None
    realtime: RealtimeProvider | None = None

    @property
    def name(self) -> str:
        return self.declaration.name

    @classmethod
    def of(cls, declaration: ProviderDeclaration, provider: Any) -> "ProviderEntry":
        """The entry of `provider` under its declaration; a capability declared but not
        implemented stops start-up."""
        capabilities = declaration.capabilities

        def serving(declared: bool, protocol: type, what: str) -> Any:
            if not declared:
                return None
            if not isinstance(provider, protocol):
                raise TypeError(
                    f"the {declaration.name} provider declares {what} but does not offer it"
                )
            return provider

        return cls(
            declaration,
            speech=serving("speech" in capabilities, SpeechProvider, "speech"),
            speech_stream=serving(
                declaration.speech_streaming is not None, StreamingSpeechProvider, "streamed speech"
            ),
            transcription=serving(
                "transcription" in capabilities, TranscriptionProvider, "transcription"
            ),
            transcription_stream=serving(
                declaration.transcription_streaming,
                StreamingTranscriptionProvider,
                "streamed transcripts",
            ),
            chat=serving("chat" in capabilities, ChatAudioProvider, "chat"),
            chat_stream=serving(declaration.chat_streaming, StreamingChatProvider, "streamed chat"),
            realtime=serving("realtime" in capabilities, RealtimeProvider, "realtime"),
        )


# What a name the build does not have serves: nothing.
_ABSENT = ProviderEntry(ProviderDeclaration("", frozenset()))


class ProviderRegistry:
    """Every provider of the build by its declared name. Each capability's lookup is what the
    route planner takes: `planner.plan(row, registry.speech)` plans the routes whose provider
    speaks."""

    def __init__(self, entries: Iterable[ProviderEntry]) -> None:
        listed = list(entries)
        names = [entry.name for entry in listed]
        if len(set(names)) != len(names):
            raise ValueError(f"a provider name is declared twice: {names}")
        self._entries: Mapping[str, ProviderEntry] = MappingProxyType(
            {entry.name: entry for entry in listed}
        )

    @property
    def entries(self) -> Mapping[str, ProviderEntry]:
        return self._entries

    def entry(self, name: str) -> ProviderEntry:
        """The provider of a planned route (planning found it here, so it is here)."""
        return self._entries[name]

    def declaration(self, name: str) -> ProviderDeclaration | None:
        entry = self._entries.get(name)
        return entry.declaration if entry is not None else None

    def speech(self, name: str) -> SpeechProvider | None:
        return self._entries.get(name, _ABSENT).speech

    def speech_stream(self, name: str) -> StreamingSpeechProvider | None:
        return self._entries.get(name, _ABSENT).speech_stream

    def transcription(self, name: str) -> TranscriptionProvider | None:
        return self._entries.get(name, _ABSENT).transcription

    def transcription_stream(self, name: str) -> StreamingTranscriptionProvider | None:
        return self._entries.get(name, _ABSENT).transcription_stream

    def chat(self, name: str) -> ChatAudioProvider | None:
        return self._entries.get(name, _ABSENT).chat

    def chat_stream(self, name: str) -> StreamingChatProvider | None:
        return self._entries.get(name, _ABSENT).chat_stream

    def realtime(self, name: str) -> RealtimeProvider | None:
        return self._entries.get(name, _ABSENT).realtime


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


def registry_of(declared: Iterable[tuple[ProviderDeclaration, Any]]) -> ProviderRegistry:
    """The registry of these providers, each under its declaration; a provider that declares
    what it does not implement, or a name declared twice, stops start-up."""
    return ProviderRegistry(
        ProviderEntry.of(declaration, provider) for declaration, provider in declared
    )
