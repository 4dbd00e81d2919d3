"""The OpenAI wire protocol, shared by OpenAI, Azure OpenAI and any compatible server."""

import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.declaration import ProviderDeclaration, SpeechOutput
from voxgate.providers.errors import NotStreamed, UpstreamError
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.openai_style import chat, speech, transcription
from voxgate.providers.protocols import (
    ChatAudioRequest,
    ChatAudioResult,
    ChatChunk,
    RealtimeOptions,
    RealtimeSocket,
    SpeechRequest,
    SpeechResult,
    TranscriptEvent,
    TranscriptionRequest,
    TranscriptionResult,
    Upstream,
)
from voxgate.providers.realtime import BETA_HEADER, BETA_VALUE, open_websocket, transcription_url


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
    declaration: ProviderDeclaration
    endpoints: Endpoints
    http: UpstreamHttp

    @property
    def name(self) -> str:
        return self.declaration.name

    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult:
        audio = await self.http.post_audio(
            self.name,
            self.endpoints.url(upstream, "audio/speech"),
            headers=self.endpoints.headers(upstream),
            json=speech.body(request, self._model(upstream), self._speech_output),
        )
        return SpeechResult(self._speech_decoder().whole(audio))

    async def stream_speech(
        self, request: SpeechRequest, upstream: Upstream
    ) -> AsyncIterator[PcmAudio]:
        """Speech passed on as it arrives, the way the declaration says the server streams it.
        A stream that ends before any audio is a failed attempt another route may make good."""
        produced = False
        async for pcm in self._speech_stream(request, upstream):
            produced = True
            yield pcm
        if not produced:
            raise UpstreamError(self.name, "the speech stream carried no audio", retriable=True)

    def _speech_stream(self, request: SpeechRequest, upstream: Upstream) -> AsyncIterator[PcmAudio]:
        url = self.endpoints.url(upstream, "audio/speech")
        headers = self.endpoints.headers(upstream)
        body = speech.body(request, self._model(upstream), self._speech_output)
        if self.declaration.speech_streaming == "sse":
            batches = self.http.post_event_batches(
                self.name, url, headers=headers, json=body | {"stream_format": "sse"}
            )
            return self._speech_events(batches)
        chunks = self.http.post_audio_stream(self.name, url, headers=headers, json=body)
        return self._speech_chunks(chunks)

    async def _speech_events(
        self, batches: AsyncIterator[list[dict[str, Any]]]
    ) -> AsyncIterator[PcmAudio]:
        """`speech.audio.delta` events until `speech.audio.done`; a stream without its done
        event was cut short. The deltas that arrived together leave as one chunk."""
        decoder = self._speech_decoder()
        try:
            async for batch in batches:
                audio, ending = self._batch_audio(batch)
                if pcm := decoder.feed(audio):
                    yield pcm
                if ending == "speech.audio.done":
                    return
                if ending is not None:
                    raise UpstreamError(self.name, f"the stream failed: {ending[:200]}")
        except NotStreamed as whole:  # a server that ignores `stream_format`
            yield decoder.whole_answer(whole.body, whole.content_type)
            return
        raise UpstreamError(self.name, "the speech stream ended before speech.audio.done")

    def _batch_audio(self, batch: list[dict[str, Any]]) -> tuple[bytes, str | None]:
        """The audio of a batch's deltas, up to its end if it holds one: `speech.audio.done`,
        or an error event (as text)."""
        audio = bytearray()
        for event in batch:
            kind = event.get("type")
            if kind == "speech.audio.delta":
                audio += self._delta(event)
            elif kind == "speech.audio.done":
                return bytes(audio), kind
            elif kind == "error":
                return bytes(audio), str(event)
        return bytes(audio), None

    async def _speech_chunks(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[PcmAudio]:
        decoder = self._speech_decoder()
        async for chunk in chunks:
            if pcm := decoder.feed(chunk):
                yield pcm

    def _delta(self, event: dict[str, Any]) -> bytes:
        try:
            # Strict: what validate=True refuses, without its regex pass over the string.
            return binascii.a2b_base64(str(event.get("audio", "")), strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise UpstreamError(self.name, "a speech delta is not base64", retriable=True) from exc

    @property
    def _speech_output(self) -> SpeechOutput:
        output = self.declaration.speech_output
        if output is None:
            raise TypeError(f"{self.name} declares no speech output")
        return output

    def _speech_decoder(self) -> speech.SpeechDecoder:
        return speech.SpeechDecoder(self.name, self._speech_output)

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

    def stream_transcription(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> AsyncIterator[TranscriptEvent]:
        return transcription.stream(self, request, upstream)

    async def chat(self, request: ChatAudioRequest, upstream: Upstream) -> ChatAudioResult:
        payload = await self.http.post_json(
            self.name,
            self.endpoints.url(upstream, "chat/completions"),
            headers=self.endpoints.headers(upstream),
            json=chat.body(request, self._model(upstream)),
        )
        return chat.result(self.name, payload)

    def stream_chat(
        self, request: ChatAudioRequest, upstream: Upstream
    ) -> AsyncIterator[ChatChunk]:
        return chat.stream(self, request, upstream)

    async def open_realtime(self, upstream: Upstream, options: RealtimeOptions) -> RealtimeSocket:
        """The provider's own realtime socket: the client's events pass as they came."""
        url = self.endpoints.realtime_url(upstream)
        headers = self.endpoints.headers(upstream)
        if options.beta:
            headers = headers | {BETA_HEADER: BETA_VALUE}
        if options.transcription:
            url = transcription_url(url)
        return await open_websocket(self.name, url, headers, options.max_event_bytes)

    def _model(self, upstream: Upstream) -> str | None:
        return self.endpoints.body_model(upstream)
