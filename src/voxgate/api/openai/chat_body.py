"""The body of POST /v1/chat/completions, validated with OpenAI's documented ranges.

Each refusal names its field: checks across fields raise InvalidRequestError themselves, which
pydantic lets through, rather than a ValueError it would report without a location.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from voxgate.catalog.schema import ModelRow
from voxgate.errors import InvalidRequestError

AudioOutFormat = Literal["wav", "aac", "mp3", "flac", "opus", "pcm16"]

# Sent upstream as given, to routes that list them (the route's chat_parameters); the rest of
# the body is the gateway's to interpret.
STANDARD_PARAMETERS = (
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "metadata",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "response_format",
    "seed",
    "service_tier",
    "stop",
    "store",
    "temperature",
    "tool_choice",
    "tools",
    "top_p",
    "user",
)
# Token counts beyond any model's output; the model's own maximum is checked against its row.
MAX_TOKENS_BOUND = 2**31 - 1
NAME_PATTERN = r"^[A-Za-z0-9_-]+$"


class AudioOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    voice: str
    format: AudioOutFormat


class JsonSchema(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None

    @model_validator(mode="after")
    def _schema_when_asked(self) -> "ResponseFormat":
        if self.type == "json_schema" and self.json_schema is None:
            raise _refused("response_format.json_schema", "is required when type is json_schema")
        return self


class StructuredOutput(BaseModel):
    """A JSON schema the answer must follow: sent as a strict json_schema response_format."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    description: str | None = None
    json_schema: dict[str, Any] = Field(alias="schema")


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
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_BOUND)
    max_tokens: int | None = Field(
        default=None, ge=1, le=MAX_TOKENS_BOUND, description="Deprecated."
    )
    response_format: ResponseFormat | None = None
    structured_outputs: bool | StructuredOutput | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    tool_choice: str | dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    parallel_tool_calls: bool | None = None
    top_p: float | None = Field(default=None, ge=0, le=1)
    user: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    prediction: dict[str, Any] | None = None
    service_tier: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "ChatCompletionBody":
        if self.logit_bias and any(not -100 <= bias <= 100 for bias in self.logit_bias.values()):
            raise _refused("logit_bias", "values must be between -100 and 100")
        if self.top_logprobs is not None and not self.logprobs:
            raise _refused("top_logprobs", "needs logprobs set to true")
        if isinstance(self.stop, list) and len(self.stop) > 4:
            raise _refused("stop", "takes at most 4 sequences")
        if self.wants_audio and self.audio is None:
            raise _refused("audio", "{voice, format} is required when modalities include audio")
        if self.audio is not None and not self.wants_audio:
            raise _refused("audio", 'is only for answers in audio: add "audio" to modalities')
        if self.stream and self.audio is not None and self.audio.format != "pcm16":
            raise _refused("audio.format", "must be pcm16 when the answer is streamed")
        if self.tool_choice is not None and not self.tools:
            raise _refused("tool_choice", "needs tools")
        self._check_structured_outputs()
        _check_input_audio(self.messages)
        return self

    def _check_structured_outputs(self) -> None:
        if isinstance(self.structured_outputs, StructuredOutput) and self.response_format:
            raise _refused("structured_outputs", "and response_format cannot both be given")
        if isinstance(self.structured_outputs, bool) and (
            self.response_format is None or self.response_format.type != "json_schema"
        ):
            raise _refused("structured_outputs", "as a boolean needs a json_schema response_format")

    @property
    def wants_audio(self) -> bool:
        return "audio" in (self.modalities or [])

    @property
    def output_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def check_against(self, row: ModelRow) -> None:
        """Refuse an output bound above what the model can produce."""
        limit = row.max_output_tokens
        name = "max_completion_tokens" if self.max_completion_tokens else "max_tokens"
        if limit is not None and (self.output_tokens or 0) > limit:
            raise _refused(name, f"is above the {limit} output tokens model '{row.id}' can produce")

    def standard_parameters(self) -> dict[str, Any]:
        """The parameters sent upstream as they are; structured_outputs becomes the strict
        json_schema response_format it stands for."""
        values = self.model_dump(include=set(STANDARD_PARAMETERS), exclude_none=True)
        if isinstance(self.structured_outputs, StructuredOutput):
            schema = self.structured_outputs.model_dump(by_alias=True, exclude_none=True)
            values["response_format"] = {
                "type": "json_schema",
                "json_schema": schema | {"strict": True},
            }
        elif self.structured_outputs is not None and "response_format" in values:
            values["response_format"]["json_schema"]["strict"] = self.structured_outputs
        return values


def _check_input_audio(messages: list[dict[str, Any]]) -> None:
    """Each input_audio part must be an object {data, format} of strings."""
    for m, message in enumerate(messages):
        content = message.get("content")
        for p, part in enumerate(content if isinstance(content, list) else []):
            if not isinstance(part, dict) or part.get("type") != "input_audio":
                continue
            audio = part.get("input_audio")
            if not (
                isinstance(audio, dict)
                and isinstance(audio.get("data"), str)
                and isinstance(audio.get("format"), str)
            ):
                raise _refused(
                    f"messages[{m}].content[{p}].input_audio",
                    "must be an object with string fields data and format",
                )


def _refused(param: str, problem: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid value for '{param}': {problem}.", param=param, code="invalid_value"
    )
