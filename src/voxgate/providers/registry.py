"""Providers by capability and name: the one place a route's provider name is looked up."""

from collections.abc import Mapping
from dataclasses import dataclass

from voxgate.providers.azure_openai import azure_openai_provider
from voxgate.providers.gemini import GeminiProvider
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.local import LocalProvider
from voxgate.providers.openai import openai_provider
from voxgate.providers.openai_compatible import openai_compatible_provider
from voxgate.providers.protocols import (
    ChatAudioProvider,
    RealtimeProvider,
    SpeechProvider,
    StreamingSpeechProvider,
    TranscriptionProvider,
)


@dataclass(frozen=True, slots=True)
class ProviderRegistry:
    speech: Mapping[str, SpeechProvider]
    transcription: Mapping[str, TranscriptionProvider]
    chat: Mapping[str, ChatAudioProvider]
    speech_stream: Mapping[str, StreamingSpeechProvider]
    realtime: Mapping[str, RealtimeProvider]


def build_registry(http: UpstreamHttp, local: LocalProvider) -> ProviderRegistry:
    """Every provider this build has, by the name routes use and by what it can do."""
    openai = openai_provider(http)
    azure = azure_openai_provider(http)
    compatible = openai_compatible_provider(http)
    gemini = GeminiProvider(http)
    speech: dict[str, SpeechProvider] = {
        "local": local,
        "openai": openai,
        "azure-openai": azure,
        "openai-compatible": compatible,
        "gemini": gemini,
    }
    transcription: dict[str, TranscriptionProvider] = {
        "local": local,
        "openai": openai,
        "azure-openai": azure,
        "openai-compatible": compatible,
        "gemini": gemini,
    }
    chat: dict[str, ChatAudioProvider] = {
        "openai": openai,
        "azure-openai": azure,
        "openai-compatible": compatible,
    }
    # Azure's and compatible servers' speech endpoints do not all speak SSE; OpenAI's does.
    speech_stream: dict[str, StreamingSpeechProvider] = {"local": local, "openai": openai}
    realtime: dict[str, RealtimeProvider] = {"openai": openai, "azure-openai": azure}
    return ProviderRegistry(speech, transcription, chat, speech_stream, realtime)
