"""The OpenAI wire protocol, shared by OpenAI, Azure OpenAI and any compatible server."""

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.openai_style import chat, speech, transcription
from voxgate.providers.protocols import (
    ChatAudioRequest,
    ChatAudioResult,
    SpeechRequest,
    SpeechResult,
    TranscriptionRequest,
    TranscriptionResult,
    Upstream,
)


class Endpoints(Protocol):
    """How one OpenAI-style provider addresses a path and proves who it is."""

    def body_model(self, upstream: Upstream) -> str | None:
        """The `model` field of the body, when the URL does not name it already."""
        ...

    def url(self, upstream: Upstream, path: str) -> str: ...

    def headers(self, upstream: Upstream) -> dict[str, str]: ...

    def realtime_url(self, upstream: Upstream) -> str:
        """The upstream realtime WebSocket for `upstream`'s model or deployment."""
        ...


@dataclass(frozen=True)
class OpenAIStyleProvider:
    name: str
    endpoints: Endpoints
    http: UpstreamHttp

    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult:
        body = speech.body(request, self._model(upstream))
        audio = await self.http.post_audio(
            self.name,
            self.endpoints.url(upstream, "audio/speech"),
            headers=self.endpoints.headers(upstream),
            json=body,
        )
        return speech.result(audio)

    async def stream_speech(
        self, request: SpeechRequest, upstream: Upstream
    ) -> AsyncIterator[PcmAudio]:
        """Speech as server-sent `speech.audio.delta` events, each passed on as it comes."""
        events = self.http.post_events(
            self.name,
            self.endpoints.url(upstream, "audio/speech"),
            headers=self.endpoints.headers(upstream),
            json=speech.body(request, self._model(upstream)) | {"stream_format": "sse"},
        )
        pending = b""
        async for event in events:
            if event.get("type") == "speech.audio.delta":
                # Deltas may split a 16-bit sample; the odd byte waits for the next one.
                pending += base64.b64decode(event.get("audio", ""))
                whole = len(pending) // 2 * 2
                if whole:
                    yield PcmAudio(pending[:whole], speech.PCM_RATE)
                    pending = pending[whole:]

    async def transcribe(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> TranscriptionResult:
        path = "audio/translations" if request.translate else "audio/transcriptions"
        payload = await self.http.post_json(
            self.name,
            self.endpoints.url(upstream, path),
            headers=self.endpoints.headers(upstream),
            data=transcription.form(request, self._model(upstream)),
        )
        return transcription.result(self.name, payload, request)

    async def chat(self, request: ChatAudioRequest, upstream: Upstream) -> ChatAudioResult:
        payload = await self.http.post_json(
            self.name,
            self.endpoints.url(upstream, "chat/completions"),
            headers=self.endpoints.headers(upstream),
            json=chat.body(request, self._model(upstream)),
        )
        return chat.result(self.name, payload)

    def realtime_target(self, upstream: Upstream) -> tuple[str, dict[str, str]]:
        return self.endpoints.realtime_url(upstream), self.endpoints.headers(upstream)

    def _model(self, upstream: Upstream) -> str | None:
        return self.endpoints.body_model(upstream)
