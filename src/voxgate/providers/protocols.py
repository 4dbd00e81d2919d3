"""What a provider can do: one Protocol per capability, with typed requests and results."""

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from websockets.protocol import State

from voxgate.audio.pcm import PcmAudio
from voxgate.types import AudioFormat


class Upstream(BaseModel):
    """Where one attempt goes: the provider's own model (or deployment) and its credential."""

    model_config = ConfigDict(frozen=True)

    model: str
    base_url: str | None = None
    credential: SecretStr | None = None
    api_version: str | None = None


class SpeechRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str = Field(min_length=1)
    voice: str = Field(description="The serving provider's own voice name.")
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = None
    response_format: AudioFormat = "mp3"
    max_output_tokens: int | None = Field(
        default=None,
        description="The most audio tokens the answer may take, for providers "
        "that take such a bound.",
    )


class TranscriptionRequest(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    audio: PcmAudio = Field(description="Mono 16 kHz PCM, as speech recognizers expect.")
    translate: bool = Field(default=False, description="Translate the speech into English.")
    language: str | None = None
    prompt: str | None = None
    word_timestamps: bool = False
    spoken_turn: bool = Field(
        default=False,
        description="One short turn a voice activity detector already cut, waited on by a "
        "live conversation: providers that can may decode it for speed over the last word "
        "of accuracy (the embedded engine decodes it greedily in a shorter window).",
    )
    # The client's own file and its container (as `gateway.inputs.container_of` names it), for
    # providers that take it as it came; others read the decoded `audio`.
    upload: bytes | None = None
    container: str | None = None
    params: tuple[tuple[str, str], ...] = Field(
        default=(),
        description="The client's own transcription parameters, for the providers that take "
        "them (repeated names such as `include[]` as repeated pairs).",
    )


@dataclass(frozen=True, slots=True)
class ProviderUsage:
    """Usage as the provider reported it; None where it reported nothing."""

    input_text_tokens: int | None = None
    output_text_tokens: int | None = None
    input_audio_tokens: int | None = None
    output_audio_tokens: int | None = None
    audio_seconds: float | None = None

    @property
    def reported(self) -> bool:
        """Whether the provider said anything of what it used."""
        return any(
            value is not None
            for value in (
                self.input_text_tokens,
                self.output_text_tokens,
                self.input_audio_tokens,
                self.output_audio_tokens,
                self.audio_seconds,
            )
        )


@dataclass(frozen=True, slots=True)
class SpeechResult:
    audio: PcmAudio
    usage: ProviderUsage = field(default_factory=ProviderUsage)
    # The seconds of audio the provider made, where the gateway changed its speed afterwards.
    made_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class MeteredPcm(PcmAudio):
    """Streamed speech that says what the provider billed for it: the seconds of audio it made
    (before the gateway changed their speed) and the usage it reported, cumulative, if any."""

    made_seconds: float = 0.0
    usage: ProviderUsage | None = None


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class TranscriptWord:
    start: float
    end: float
    word: str


@dataclass(frozen=True, slots=True)
class TranscriptionResult:
    text: str
    language: str
    duration_seconds: float
    segments: tuple[TranscriptSegment, ...] = ()
    words: tuple[TranscriptWord, ...] = ()
    usage: ProviderUsage = field(default_factory=ProviderUsage)
    # The provider's JSON answer, to pass on as it was sent; empty where there is none to pass.
    body: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TranscriptEvent:
    """One streamed transcription event as the provider sent it: a `transcript.text.delta`,
    the closing `transcript.text.done`, or any other event of OpenAI's protocol."""

    event: dict[str, Any]


def whole_transcript_events(result: TranscriptionResult) -> tuple[TranscriptEvent, ...]:
    """A transcript that came whole as OpenAI streams one: a delta with all its text, then done.
    The done event carries token usage where the provider counted tokens (OpenAI's stream has
    no place for a duration)."""
    done: dict[str, Any] = {"type": "transcript.text.done", "text": result.text}
    usage = result.usage
    if usage.input_audio_tokens is not None or usage.input_text_tokens is not None:
        audio, text = usage.input_audio_tokens or 0, usage.input_text_tokens or 0
        output = usage.output_text_tokens or 0
        done["usage"] = {
            "type": "tokens",
            "input_tokens": audio + text,
            "input_token_details": {"audio_tokens": audio, "text_tokens": text},
            "output_tokens": output,
            "total_tokens": audio + text + output,
        }
    delta = {"type": "transcript.text.delta", "delta": result.text}
    return TranscriptEvent(delta), TranscriptEvent(done)


class ChatAudioRequest(BaseModel):
    """One turn of a chat with an audio model: text or audio in, text and maybe audio out."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    system: str | None = None
    text: str | None = None
    audio: PcmAudio | None = Field(default=None, description="Mono 24 kHz PCM spoken by the user.")
    voice: str | None = Field(default=None, description="Set when audio is wanted back.")
    max_output_tokens: int | None = None
    messages: tuple[dict[str, Any], ...] | None = Field(
        default=None, description="A whole OpenAI-style conversation, sent as it is."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Standard chat parameters the route supports."
    )


@dataclass(frozen=True, slots=True)
class ChatAudioResult:
    """What the gateway reads from a chat answer, with the provider's whole JSON (`payload`)
    for the endpoints that pass it on."""

    text: str
    audio: PcmAudio | None
    usage: ProviderUsage = field(default_factory=ProviderUsage)
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One streamed chat chunk as the provider sent it (`event`), its audio decoded, and the
    usage it carries (the last chunk's, as a rule)."""

    event: dict[str, Any]
    audio: PcmAudio | None
    usage: ProviderUsage | None

    @property
    def finishes(self) -> bool:
        """Whether this chunk finishes one of the answer's choices."""
        choices = self.event.get("choices")
        return isinstance(choices, list) and any(
            isinstance(choice, dict) and choice.get("finish_reason") for choice in choices
        )


@runtime_checkable
class SpeechProvider(Protocol):
    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult: ...


@runtime_checkable
class StreamingSpeechProvider(Protocol):
    def stream_speech(self, request: SpeechRequest, upstream: Upstream) -> AsyncIterator[PcmAudio]:
        """Audio a sentence at a time, each as soon as it is made."""
        ...


@runtime_checkable
class TranscriptionProvider(Protocol):
    async def transcribe(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> TranscriptionResult: ...


@runtime_checkable
class StreamingTranscriptionProvider(Protocol):
    def stream_transcription(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> AsyncIterator[TranscriptEvent]:
        """The transcript's events as the provider sends them, ending with its done event; a
        model that cannot stream gives its whole answer as `whole_transcript_events`."""
        ...


@runtime_checkable
class ChatAudioProvider(Protocol):
    async def chat(self, request: ChatAudioRequest, upstream: Upstream) -> ChatAudioResult: ...


@runtime_checkable
class StreamingChatProvider(Protocol):
    def stream_chat(
        self, request: ChatAudioRequest, upstream: Upstream
    ) -> AsyncIterator[ChatChunk]:
        """The answer chunk by chunk, each as soon as the provider sends it."""
        ...


# How a server event the gateway makes (a translation's) is shaped for the client's dialect;
# None when that dialect has no such event.
EventShape = Callable[[dict[str, Any]], dict[str, Any] | None]


# A field a translating socket adds to a `response.done` whose output it cut at the response's
# cap: the usage the provider reported making, when more than the event's own usage (what was
# forwarded). The gateway charges the event's usage, records the overrun, and takes the field
# off before the client sees the event.
PROVIDER_USAGE = "voxgate_provider_usage"


def as_is(event: dict[str, Any]) -> dict[str, Any] | None:
    return event


@dataclass(frozen=True)
class RealtimeOptions:
    """How the client's session is to be opened upstream."""

    # The beta dialect (`OpenAI-Beta: realtime=v1`), and how it names the gateway's own events.
    beta: bool = False
    shape: EventShape = field(default=as_is)
    # A transcription-only session (`intent=transcription`).
    transcription: bool = False
    # The largest event the upstream socket takes.
    max_event_bytes: int = 2**20


class RealtimeSocket(Protocol):
    """One upstream realtime session, in the OpenAI realtime protocol (a websockets client
    connection is one)."""

    @property
    def state(self) -> State: ...

    @property
    def close_code(self) -> int | None: ...

    async def send(self, message: str) -> None: ...

    async def recv(self) -> str | bytes: ...

    async def close(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...


@runtime_checkable
class RealtimeProvider(Protocol):
    """A provider opens the upstream realtime session itself. What the gateway gets back
    speaks the OpenAI realtime protocol whatever the provider speaks: OpenAI's and Azure's
    sockets as they are, Gemini Live through a translation (`gemini.live`)."""

    async def open_realtime(self, upstream: Upstream, options: RealtimeOptions) -> RealtimeSocket:
        """The upstream session, opened and authenticated; UpstreamError when it is refused
        or cannot be reached."""
        ...
