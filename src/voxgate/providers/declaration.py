"""What a provider says about itself, once: its name, what it can do, the audio it speaks in,
how its speech, chat and transcripts stream, and which transcription parameters it takes. The registry is built from these declarations."""

from dataclasses import dataclass
from typing import Literal

Capability = Literal["speech", "transcription", "chat", "realtime"]
# How speech arrives as it is made: OpenAI's server-sent `speech.audio.delta` events, the audio
# bytes themselves over chunked transfer, Gemini's streamGenerateContent, or the local engine's
# sentences.
SpeechStreaming = Literal["sse", "chunked", "stream_generate_content", "sentences"]


@dataclass(frozen=True, slots=True)
class SpeechOutput:
    """The format a provider is asked to speak in, by its own name for it (`pcm`, `wav`), and the
    sample rate of that audio (a WAV's own header, where it has one, has the last word)."""

    wire_format: str
    sample_rate: int
    # What the provider bills a second of the audio it makes, when it reports no usage.
    audio_tokens_per_second: int = 20


@dataclass(frozen=True, slots=True)
class UploadLimit:
    """The largest audio file a provider takes in one transcription request, and the containers
    it takes as they came (by the name `gateway.inputs.container_of` gives them; any other goes
    as the decoded samples in a 16 kHz WAV). Longer audio is sent in pieces that fit."""

    max_bytes: int
    containers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ProviderDeclaration:
    name: str
    capabilities: frozenset[Capability]
    speech_output: SpeechOutput | None = None
    speech_streaming: SpeechStreaming | None = None
    # Whether chat answers can be streamed chunk by chunk (OpenAI's chat.completion.chunk).
    chat_streaming: bool = False
    # Whether transcripts can be streamed as they are recognized (OpenAI's
    # `transcript.text.delta` events); the provider still says which of its models do.
    transcription_streaming: bool = False
    # The OpenAI transcription parameters the provider takes as the client sent them, by
    # OpenAI's name (an object's bracketed keys, `chunking_strategy[type]`, go by its name).
    transcription_parameters: frozenset[str] = frozenset()
    # The provider's limit on one transcription upload; None where it has none (the local engine).
    transcription_upload: UploadLimit | None = None

    def takes_transcription_parameter(self, name: str) -> bool:
        return (
            name in self.transcription_parameters
            or name.partition("[")[0] in self.transcription_parameters
        )

    def __post_init__(self) -> None:
        speaks = "speech" in self.capabilities
        if speaks != (self.speech_output is not None):
            raise ValueError(f"{self.name}: a speech provider states its speech output")
        if self.speech_streaming is not None and not speaks:
            raise ValueError(f"{self.name}: only a speech provider streams speech")
        if self.chat_streaming and "chat" not in self.capabilities:
            raise ValueError(f"{self.name}: only a chat provider streams chat")
        if self.transcription_streaming and "transcription" not in self.capabilities:
            raise ValueError(f"{self.name}: only a transcription provider streams transcripts")
        if self.transcription_parameters and "transcription" not in self.capabilities:
            raise ValueError(f"{self.name}: only a transcription provider takes its parameters")
        if self.transcription_upload and "transcription" not in self.capabilities:
            raise ValueError(f"{self.name}: only a transcription provider limits its uploads")
