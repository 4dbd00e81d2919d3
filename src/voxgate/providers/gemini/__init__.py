"""Google Gemini: generateContent for speech (prebuilt voices) and for transcription."""

from dataclasses import dataclass
from typing import Any

from voxgate.providers.gemini import speech, transcription
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.protocols import (
    SpeechRequest,
    SpeechResult,
    TranscriptionRequest,
    TranscriptionResult,
    Upstream,
)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
NAME = "gemini"


@dataclass(frozen=True)
class GeminiProvider:
    http: UpstreamHttp

    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult:
        payload = await self._generate(upstream, speech.body(request))
        return speech.result(NAME, payload, request.speed)

    async def transcribe(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> TranscriptionResult:
        payload = await self._generate(upstream, transcription.body(request))
        return transcription.result(NAME, payload, request)

    async def _generate(self, upstream: Upstream, body: dict[str, Any]) -> Any:
        base = (upstream.base_url or DEFAULT_BASE_URL).rstrip("/")
        key = upstream.credential.get_secret_value() if upstream.credential else ""
        return await self.http.post_json(
            NAME,
            f"{base}/v1beta/models/{upstream.model}:generateContent",
            headers={"x-goog-api-key": key},
            json=body,
        )
