"""Google Gemini: generateContent for speech (prebuilt voices) and for transcription,
streamGenerateContent for speech as it is made, and Gemini Live for realtime sessions (in the
OpenAI realtime protocol, translated: `live`)."""

from collections.abc import AsyncIterator, Awaitable
from contextlib import aclosing
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.declaration import ProviderDeclaration, SpeechOutput
from voxgate.providers.errors import UpstreamError
from voxgate.providers.gemini import speech, transcription
from voxgate.providers.gemini.live import GeminiLiveSocket, live_url
from voxgate.providers.gemini.responses import has_parts, usage
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.protocols import (
    MeteredPcm,
    RealtimeOptions,
    RealtimeSocket,
    SpeechRequest,
    SpeechResult,
    TranscriptionRequest,
    TranscriptionResult,
    Upstream,
)
from voxgate.providers.realtime import open_websocket
from voxgate.providers.sentence_speech import by_sentences

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DECLARATION = ProviderDeclaration(
    name="gemini",
    capabilities=frozenset({"speech", "transcription", "realtime"}),
    speech_output=SpeechOutput(
        wire_format="pcm",
        sample_rate=speech.DEFAULT_RATE,
        audio_tokens_per_second=speech.AUDIO_TOKENS_PER_SECOND,
    ),
    speech_streaming="stream_generate_content",
)
NAME = DECLARATION.name


@dataclass(frozen=True)
class GeminiProvider:
    http: UpstreamHttp

    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult:
        payload = await self.http.post_json(
            NAME,
            self._url(upstream, "generateContent"),
            headers=_headers(upstream),
            json=speech.body(request),
        )
        return speech.result(NAME, payload, request.speed)

    async def stream_speech(
        self, request: SpeechRequest, upstream: Upstream
    ) -> AsyncIterator[PcmAudio]:
        """Each event's audio as it arrives, with the usage Gemini reports. At another speed
        than 1 each sentence is asked whole and sent on when made: Gemini has no speed setting,
        and the gateway's time-stretch needs a whole answer. Each piece says how much audio
        Gemini made for it."""
        if request.speed != 1.0:
            pieces = by_sentences(
                self.synthesize, request, upstream, speech.AUDIO_TOKENS_PER_SECOND
            )
            async with aclosing(pieces):
                async for piece in pieces:
                    yield piece
            return
        events = self.http.post_events(
            NAME,
            self._url(upstream, "streamGenerateContent") + "?alt=sse",
            headers=_headers(upstream),
            json=speech.body(request),
        )
        produced = False
        async for event in events:
            if "error" in event:
                raise UpstreamError(NAME, f"the stream failed: {str(event)[:200]}")
            pcm = speech.audio(NAME, event) if has_parts(event) else None
            pcm = pcm or PcmAudio(b"", speech.DEFAULT_RATE)
            # The usage comes with the last event, which may carry nothing else.
            reported = usage(event, audio_out=True) if "usageMetadata" in event else None
            if pcm.samples or reported is not None:
                produced = produced or bool(pcm.samples)
                yield MeteredPcm(pcm.samples, pcm.sample_rate, pcm.duration_seconds, reported)
        if not produced:
            raise UpstreamError(NAME, "the speech stream carried no audio", retriable=True)

    async def transcribe(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> TranscriptionResult:
        payload = await self.http.post_json(
            NAME,
            self._url(upstream, "generateContent"),
            headers=_headers(upstream),
            json=transcription.body(request),
        )
        return transcription.result(NAME, payload, request)

    async def open_realtime(self, upstream: Upstream, options: RealtimeOptions) -> RealtimeSocket:
        """A Gemini Live session for a client speaking the OpenAI realtime protocol."""
        if options.transcription:
            raise UpstreamError(NAME, "Gemini Live serves no transcription sessions", status=400)
        url = live_url(upstream.base_url or DEFAULT_BASE_URL)
        headers = _headers(upstream)

        def connect() -> Awaitable[ClientConnection]:
            return open_websocket(NAME, url, headers, options.max_event_bytes)

        socket = GeminiLiveSocket(connect, upstream.model, options.beta, options.shape)
        return await socket.open()

    def _url(self, upstream: Upstream, action: str) -> str:
        base = (upstream.base_url or DEFAULT_BASE_URL).rstrip("/")
        return f"{base}/v1beta/models/{upstream.model}:{action}"


def _headers(upstream: Upstream) -> dict[str, str]:
    return {"x-goog-api-key": upstream.credential.get_secret_value() if upstream.credential else ""}
