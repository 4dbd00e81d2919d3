"""The embedded engine: Piper speech and faster-whisper recognition, models from packages."""

from voxgate.providers.local import speech, transcription
from voxgate.providers.local.engine import LocalEngine
from voxgate.providers.protocols import (
    SpeechRequest,
    SpeechResult,
    TranscriptionRequest,
    TranscriptionResult,
    Upstream,
)
from voxgate.settings import Settings


class LocalProvider:
    """Serves both speech and transcription; routes name it `local`."""

    def __init__(self, settings: Settings) -> None:
        self.engine = LocalEngine(settings)

    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult:
        return await speech.synthesize(self.engine, request, upstream)

    async def transcribe(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> TranscriptionResult:
        return await transcription.transcribe(self.engine, request, upstream)

    async def preload(self) -> None:
        await self.engine.preload()

    async def aclose(self) -> None:
        await self.engine.aclose()
