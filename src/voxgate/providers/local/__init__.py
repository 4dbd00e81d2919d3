"""The embedded engine as a provider: Piper speech and faster-whisper transcription, offline."""

from collections.abc import AsyncGenerator

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.declaration import ProviderDeclaration, SpeechOutput
from voxgate.providers.local.engine import LocalEngine
from voxgate.providers.local.speech import LocalSpeech
from voxgate.providers.local.transcription import LocalTranscription
from voxgate.providers.protocols import (
    SpeechRequest,
    SpeechResult,
    TranscriptionRequest,
    TranscriptionResult,
    Upstream,
)
from voxgate.settings import Settings

# Built from the settings, not from HTTP; it speaks at its voice's own rate, 22.05 kHz for the
# medium Piper voices.
DECLARATION = ProviderDeclaration(
    name="local",
    capabilities=frozenset({"speech", "transcription"}),
    speech_output=SpeechOutput(wire_format="pcm", sample_rate=22_050),
    speech_streaming="sentences",
)


class LocalProvider:
    def __init__(self, settings: Settings) -> None:
        self._engine = LocalEngine(settings)
        self._speech = LocalSpeech(self._engine)
        self._transcription = LocalTranscription(self._engine)

    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult:
        return await self._speech.synthesize(request, upstream)

    def stream_speech(
        self, request: SpeechRequest, upstream: Upstream
    ) -> AsyncGenerator[PcmAudio, None]:
        """One PcmAudio per sentence as Piper makes it; close the generator to stop early."""
        return self._speech.stream_sentences(request, upstream)

    async def transcribe(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> TranscriptionResult:
        return await self._transcription.transcribe(request, upstream)

    async def preload(self) -> None:
        await self._engine.preload()

    async def aclose(self) -> None:
        await self._engine.aclose()
