"""Providers by capability and name: the one place a route's provider name is looked up."""

from collections.abc import Mapping
from dataclasses import dataclass

from voxgate.providers.protocols import SpeechProvider, TranscriptionProvider


@dataclass(frozen=True, slots=True)
class ProviderRegistry:
    speech: Mapping[str, SpeechProvider]
    transcription: Mapping[str, TranscriptionProvider]
