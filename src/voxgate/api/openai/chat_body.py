"""The body of POST /v1/chat/completions, validated with OpenAI's documented ranges."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AudioOutFormat = Literal["wav", "aac", "mp3", "flac", "opus", "pcm16"]

# Passed on to routes that list them; the rest of the body is the gateway's to interpret.
STANDARD_PARAMETERS = (
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "max_completion_tokens",
    "presence_penalty",
    "response_format",
    "seed",
    "stop",
    "temperature",
    "tool_choice",
    "tools",
    "top_p",
    "user",
)


class AudioOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    voice: str
    format: AudioOutFormat


class JsonSchema(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None

    @model_validator(mode="after")
    def _schema_when_asked(self) -> "ResponseFormat":
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("json_schema is required when type is json_schema")
        return self


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False


class ChatCompletionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    modalities: list[Literal["text", "audio"]] | None = None
    audio: AudioOutput | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, int] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1, description="Deprecated.")
    response_format: ResponseFormat | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    tool_choice: str | dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    top_p: float | None = Field(default=None, ge=0, le=1)
    user: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "ChatCompletionBody":
        if self.logit_bias and any(not -100 <= bias <= 100 for bias in self.logit_bias.values()):
            raise ValueError("logit_bias values must be between -100 and 100")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs set to true")
        if isinstance(self.stop, list) and len(self.stop) > 4:
            raise ValueError("stop takes at most 4 sequences")
        if self.wants_audio and self.audio is None:
            raise ValueError("audio {voice, format} is required when modalities include audio")
        if self.stream and self.audio is not None and self.audio.format != "pcm16":
            raise ValueError("streamed audio must use audio.format pcm16")
        if self.tool_choice is not None and not self.tools:
            raise ValueError("tool_choice needs tools")
        return self

    @property
    def wants_audio(self) -> bool:
        return "audio" in (self.modalities or [])

    def standard_parameters(self) -> dict[str, Any]:
        values = self.model_dump(include=set(STANDARD_PARAMETERS), exclude_none=True)
        if self.max_tokens is not None and self.max_completion_tokens is None:
            values["max_completion_tokens"] = self.max_tokens
        return values
