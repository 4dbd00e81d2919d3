"""The shape of a catalog row; the one source for validation, routing, pricing and the docs."""

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from voxgate.types import AudioFormat, Modality, RequestedTask, Task

FieldType = Literal["string", "number", "integer", "boolean"]
FieldName = Literal[
    "model",
    "task",
    "input",
    "voice",
    "response_format",
    "speed",
    "instructions",
    "language",
    "prompt",
    "max_output_tokens",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldSpec(_Frozen):
    """One request field a model accepts, as shown in its reference table."""

    name: FieldName
    type: FieldType
    required: bool = False
    accepted: tuple[str, ...] | None = Field(
        default=None, description="The only values allowed, when the field is an enumeration."
    )
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = Field(default=None, description="Characters, for strings.")
    description: str


class Credential(_Frozen):
    """Where a route's secret lives: the names of environment variables, never the secret."""

    name: str
    api_key_env: str
    base_url_env: str | None = None
    base_url: str | None = Field(
        default=None, description="Used when base_url_env is unset or empty; not a secret."
    )


class Route(_Frozen):
    provider: str = Field(description="A provider in the registry, e.g. local or azure-openai.")
    upstream_model: str = Field(description="The provider's own model or deployment name.")
    weight: int = Field(default=1, ge=1)
    api_version: str | None = Field(
        default=None, description="Azure OpenAI: address the deployment with this api-version."
    )
    credentials: tuple[Credential, ...] = ()
    chat_parameters: tuple[str, ...] = Field(
        default=(),
        description="Chat completion parameters this route passes on. A request with one the "
        "route does not take is sent to the model's other routes, or refused with a 400 naming "
        "it when no route takes it.",
    )
    billed_as: str | None = Field(
        default=None,
        description="The catalog id whose prices the provider bills this route at, when they "
        "are not this row's own (e.g. a failover to another provider's model): usage records "
        "carry that provider cost beside the client's charge.",
    )
    max_cost_ratio: Decimal | None = Field(
        default=None,
        gt=0,
        description="The most this route's provider cost may be, as a multiple of what the "
        "request is charged at the row's prices, for the request's worst case; a dearer route "
        "is skipped. Unset: the route is always tried, and its cost recorded.",
    )


class Pricing(_Frozen):
    """Prices in US dollars as the provider bills them; each unit kind is optional."""

    minimum_hold_usd: Decimal
    text_input_per_1m_tokens: Decimal | None = None
    text_output_per_1m_tokens: Decimal | None = None
    audio_input_per_1m_tokens: Decimal | None = None
    audio_output_per_1m_tokens: Decimal | None = None
    audio_per_minute: Decimal | None = None
    per_1m_characters: Decimal | None = None
    per_request: Decimal | None = None


class Cascade(_Frozen):
    """Audio chat made of three legs: a transcription model, this row's text chat routes, and
    a speech model. The row's own prices bill all three: tokens for the chat, per minute for
    the audio heard, per character for the reply spoken."""

    transcription: str = Field(description="The catalog id of the speech-to-text leg.")
    speech: str = Field(description="The catalog id of the text-to-speech leg.")


class Alias(_Frozen):
    """Another name clients already send for this row, e.g. an SDK's or a framework's default."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    reason: str = Field(description="Why this row serves the name: shown on the model's page.")


class Modalities(_Frozen):
    input: tuple[Modality, ...]
    output: tuple[Modality, ...]


class ModelRow(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    description: str
    provider: str
    endpoint_type: str
    interface: Literal["audio", "chat", "cascade"] = Field(
        default="audio",
        description="audio: speech and transcription endpoints; chat: an audio chat model "
        "that serves every task through chat completions; cascade: speech-to-text, a text "
        "chat route and text-to-speech in a row.",
    )
    cascade: Cascade | None = None
    route_order: Literal["ordered", "weighted"] = "ordered"
    tasks: tuple[Task, ...] = Field(min_length=1)
    default_task: Task
    modalities: Modalities
    context_window: int | None = None
    max_output_tokens: int | None = None
    default_output_tokens: int | None = Field(
        default=None,
        ge=1,
        description="The output cap sent upstream as max_completion_tokens when the client "
        "gives none, so that the credit held for a request bounds what it can cost.",
    )
    aliases: tuple[Alias, ...] = ()
    voices: tuple[str, ...] = ()
    default_voice: str | None = None
    formats: tuple[AudioFormat, ...] = ()
    default_format: AudioFormat | None = None
    languages: tuple[str, ...] = ()
    fields: tuple[FieldSpec, ...]
    pricing: Pricing
    routes: tuple[Route, ...] = Field(min_length=1)
    realtime_last_hop: str | None = Field(
        default=None,
        description="A realtime row's last hop: the id of a cascade row (local-realtime) that a "
        "relayed session moves to, mid-session, when every route of this row is lost.",
    )
    example: dict[str, Any] = Field(description="A model-safe example payload for the docs.")

    @model_validator(mode="after")
    def _consistent(self) -> "ModelRow":
        if self.default_task not in self.tasks:
            raise ValueError(f"default_task {self.default_task!r} is not one of tasks")
        names = [spec.name for spec in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("field names repeat")
        if self.default_voice is not None and self.default_voice not in self.voices:
            raise ValueError(f"default_voice {self.default_voice!r} is not one of voices")
        if self.default_format is not None and self.default_format not in self.formats:
            raise ValueError(f"default_format {self.default_format!r} is not one of formats")
        if (self.interface == "cascade") != (self.cascade is not None):
            raise ValueError("a cascade row needs a cascade, and only a cascade row has one")
        if self.default_output_tokens is not None and self.default_output_tokens > (
            self.max_output_tokens or 0
        ):
            raise ValueError("default_output_tokens must not exceed max_output_tokens")
        self._check_accepted("model", (self.id, *self.alias_ids))
        self._check_accepted("task", ("auto", *self.tasks))
        self._check_accepted("voice", self.voices)
        self._check_accepted("response_format", self.formats)
        self._check_accepted("language", self.languages)
        return self

    def _check_accepted(self, name: str, values: tuple[str, ...]) -> None:
        """A field's accepted values must be exactly what the row declares it can do; a row
        copied from another keeps the old model id, which would refuse every request."""
        spec = self.field(name)
        if spec is not None and set(spec.accepted or ()) != set(values):
            raise ValueError(
                f"field {name!r}: accepted values {sorted(spec.accepted or ())} must be exactly "
                f"{sorted(values)}"
            )

    @property
    def alias_ids(self) -> tuple[str, ...]:
        return tuple(alias.id for alias in self.aliases)

    def field(self, name: str) -> FieldSpec | None:
        return next((spec for spec in self.fields if spec.name == name), None)

    def accepts_task(self, task: RequestedTask) -> bool:
        return task == "auto" or task in self.tasks


class VoiceMapping(_Frozen):
    """An OpenAI voice name and its nearest voice at each other provider, chosen by character."""

    character: str
    gemini: str
    local: str


class VoiceTable(_Frozen):
    openai: dict[str, VoiceMapping]
    provider_columns: dict[str, Literal["gemini", "local"]]
    native: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Each provider's own voice names, where they are not OpenAI's; the local "
        "engine's come from its models file, not from here.",
    )

    def native_voice(self, voice: str, provider: str) -> str:
        """The serving provider's name for `voice`; native names pass through unchanged."""
        mapping = self.openai.get(voice)
        column = self.provider_columns.get(provider)
        if mapping is None or column is None:
            return voice
        return str(getattr(mapping, column))
