"""What a model's reference page shows, in one language: built once from the catalog row and
rendered twice, as HTML and as Markdown, so the two never disagree."""

import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from voxgate.api.docs.locales import ChatParameter, Language
from voxgate.api.docs.responses import TaskResponse, task_responses
from voxgate.api.docs.samples import LANGUAGES, code_samples
from voxgate.catalog.schema import FieldSpec, ModelRow
from voxgate.gateway.quotes import typical_hold
from voxgate.money import MICRO, format_usd
from voxgate.types import MicroUSD

PRICE_UNITS = MappingProxyType(
    {
        "text_input_per_1m_tokens": "per_1m_tokens",
        "text_output_per_1m_tokens": "per_1m_tokens",
        "audio_input_per_1m_tokens": "per_1m_tokens",
        "audio_output_per_1m_tokens": "per_1m_tokens",
        "audio_per_minute": "per_minute",
        "per_1m_characters": "per_1m_characters",
        "per_request": "per_request",
    }
)


@dataclass(frozen=True)
class AudioLimits:
    """What the gateway accepts as base64 or data-URL audio, whatever the text limit says."""

    max_bytes: int
    max_seconds: float


@dataclass(frozen=True)
class Price:
    label: str
    amount: str


# What a realtime session speaks, whatever formats the row's other tasks return.
REALTIME_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")


@dataclass(frozen=True)
class Accepted:
    """One line of a field's accepted values: literal values (ids, formats, a range) are set
    left to right on every page; a sentence is in the page's language."""

    text: str
    literal: bool
    label: str | None = None


@dataclass(frozen=True)
class Text:
    """A catalog text and its direction: a translation reads in the page's direction, the
    English it falls back to left to right."""

    text: str
    dir: str


@dataclass(frozen=True)
class FieldRow:
    name: str
    type: str
    required: str
    accepted: tuple[Accepted, ...]
    description: Text


@dataclass(frozen=True)
class ParameterRow:
    name: str
    type: str
    description: Text


@dataclass(frozen=True)
class RouteRow:
    provider: str
    upstream_model: str
    key_count: int


@dataclass(frozen=True)
class Sample:
    language: str
    label: str
    code: str


@dataclass(frozen=True)
class PageView:
    t: dict[str, str]
    id: str
    name: str
    summary: Text
    modalities: str
    speaks: bool
    context_window: str | None
    max_output_tokens: str | None
    prices: tuple[Price, ...]
    minimum_hold: str
    output_cap: str | None
    typical_hold: str | None
    endpoint: str
    provider: str
    endpoint_type: str
    routes: tuple[RouteRow, ...]
    aliases: tuple[tuple[str, Text], ...]
    fields: tuple[FieldRow, ...]
    payload: str
    response: str
    responses: tuple[TaskResponse, ...]
    samples: tuple[Sample, ...]
    chat_samples: tuple[Sample, ...]
    chat_parameters: tuple[ParameterRow, ...]
    checklist: tuple[str, ...]


def page_view(
    row: ModelRow,
    language: Language,
    base_url: str,
    parameters: tuple[ChatParameter, ...],
    audio: AudioLimits,
) -> PageView:
    t = dict(language.messages)
    texts = language.catalog.models.get(row.id)
    modalities = [
        " + ".join(t[f"modality_{kind}"] for kind in side)
        for side in (row.modalities.input, row.modalities.output)
    ]
    chat = row.interface == "chat"
    translated = language.catalog.chat_parameters
    responses = task_responses(row, base_url)
    return PageView(
        t=t,
        id=row.id,
        name=row.name,
        summary=_text(texts.description if texts else None, row.description, t),
        modalities=f" {t['flow_arrow']} ".join(modalities),
        speaks="audio" in row.modalities.output,
        context_window=_count(row.context_window),
        max_output_tokens=_count(row.max_output_tokens),
        prices=_prices(row, t),
        minimum_hold=f"{_usd(row.pricing.minimum_hold_usd)} {t['per_request_held']}",
        output_cap=_count(row.default_output_tokens),
        typical_hold=_typical_hold(row),
        endpoint=f"{base_url}/api/v1/audio",
        provider=row.provider,
        endpoint_type=row.endpoint_type,
        # How many keys a route fails over between, never their names: those are the
        # operator's environment, not the public's business.
        routes=tuple(
            RouteRow(route.provider, route.upstream_model, len(route.credentials))
            for route in row.routes
        ),
        aliases=tuple(
            (alias.id, _text(texts.aliases.get(alias.id) if texts else None, alias.reason, t))
            for alias in row.aliases
        ),
        fields=tuple(
            _field_row(row, spec, t, texts.fields if texts else {}, _hears(row, spec, audio))
            for spec in row.fields
        ),
        payload=json.dumps(row.example, indent=2, ensure_ascii=False),
        response=json.dumps(_response_shape(row, responses), indent=2, ensure_ascii=False),
        responses=responses,
        samples=_samples(code_samples(f"{base_url}/api/v1/audio", row.example)),
        chat_samples=_samples(code_samples(f"{base_url}/v1/chat/completions", _chat(row)))
        if chat
        else (),
        chat_parameters=tuple(
            ParameterRow(
                parameter.name,
                parameter.type,
                _text(translated.get(parameter.name), parameter.description, t),
            )
            for parameter in parameters
        )
        if chat
        else (),
        checklist=tuple(
            t[key]
            for key in (
                "checklist_auth",
                "checklist_gateway",
                "checklist_key",
                "checklist_errors",
                "checklist_idempotency",
                "checklist_usage",
                "checklist_limits",
            )
        ),
    )


def _count(value: int | None) -> str | None:
    return None if value is None else f"{value:,}"


def _usd(price: Any) -> str:
    return "$" + format_usd(MicroUSD(round(price * MICRO)))


def _prices(row: ModelRow, t: dict[str, str]) -> tuple[Price, ...]:
    prices = row.pricing.model_dump(exclude_none=True)
    return tuple(
        Price(t[f"price_unit_{kind}"], f"{_usd(price)} {t[PRICE_UNITS[kind]]}")
        for kind, price in prices.items()
        if kind in PRICE_UNITS
    )


def _typical_hold(row: ModelRow) -> str | None:
    held = typical_hold(row)
    return None if held is None else "$" + format_usd(held)


def _text(translation: str | None, english: str, t: dict[str, str]) -> Text:
    return Text(translation, t["dir"]) if translation else Text(english, "ltr")


def _hears(row: ModelRow, spec: FieldSpec, audio: AudioLimits) -> AudioLimits | None:
    """The audio limits of a row's input field, when the row takes audio there."""
    return audio if spec.name == "input" and "audio" in row.modalities.input else None


def _field_row(
    row: ModelRow,
    spec: FieldSpec,
    t: dict[str, str],
    translated: dict[str, str],
    audio: AudioLimits | None,
) -> FieldRow:
    return FieldRow(
        name=spec.name,
        type=spec.type,
        required=t["yes"] if spec.required else t["no"],
        accepted=_accepted(row, spec, t, audio),
        description=_text(translated.get(spec.name), spec.description, t),
    )


def _accepted(
    row: ModelRow, spec: FieldSpec, t: dict[str, str], audio: AudioLimits | None
) -> tuple[Accepted, ...]:
    if spec.name == "response_format" and "realtime" in row.tasks:
        return _formats_with_realtime(row, spec, t)
    if spec.accepted:
        return (Accepted(", ".join(spec.accepted), literal=True),)
    if spec.minimum is not None and spec.maximum is not None:
        return (Accepted(f"{_number(spec.minimum)}–{_number(spec.maximum)}", literal=True),)
    if audio is not None:
        return (Accepted(_audio_accepted(spec, t, audio, _reads_text(row)), literal=False),)
    if spec.max_length is not None:
        limit = t["up_to_characters"].replace("{n}", f"{spec.max_length:,}")
        return (Accepted(limit, literal=False),)
    if spec.minimum is not None:
        return (Accepted(t["at_least"].replace("{n}", _number(spec.minimum)), literal=False),)
    if spec.maximum is not None:
        return (Accepted(t["at_most"].replace("{n}", _number(spec.maximum)), literal=False),)
    return (Accepted(t["any_value"], literal=False),)


def _formats_with_realtime(
    row: ModelRow, spec: FieldSpec, t: dict[str, str]
) -> tuple[Accepted, ...]:
    """A realtime session speaks only its own formats; the row's other tasks take the rest."""
    realtime = Accepted(", ".join(REALTIME_FORMATS), literal=True, label=t["for_realtime"])
    others = [value for value in spec.accepted or () if value not in REALTIME_FORMATS[1:]]
    if not others or row.tasks == ("realtime",):
        return (realtime,)
    return (Accepted(", ".join(others), literal=True, label=t["for_other_tasks"]), realtime)


def _number(value: float) -> str:
    """A bound as people read it: 16,384 for a whole number, 0.25 otherwise."""
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


def _reads_text(row: ModelRow) -> bool:
    return "text" in row.modalities.input


def _audio_accepted(
    spec: FieldSpec, t: dict[str, str], audio: AudioLimits, reads_text: bool
) -> str:
    """Audio is bounded by its decoded size and duration; text, where the row also takes text,
    by its length (a long base64 clip is not held to the text limit)."""
    heard = (
        t["audio_limit"]
        .replace("{mb}", f"{audio.max_bytes / 2**20:g}")
        .replace("{minutes}", f"{audio.max_seconds / 60:g}")
    )
    if not reads_text or spec.max_length is None:
        return heard
    return t["text_limit"].replace("{n}", f"{spec.max_length:,}") + t["list_separator"] + heard


def _response_shape(row: ModelRow, responses: tuple[TaskResponse, ...]) -> dict[str, Any]:
    """Every object the row answers with, and the data and usage of its first task's answer;
    each task's own answer follows on the page."""
    first = responses[0].sample
    return {
        "object": "|".join(response.object for response in responses),
        "data": first["data"],
        "usage": first["usage"],
    }


def _chat(row: ModelRow) -> dict[str, Any]:
    """The chat-completions request with one user message, from the row's example."""
    example = row.example
    return {
        "model": row.id,
        "modalities": ["text", "audio"],
        "audio": {
            "voice": example.get("voice", row.default_voice or "alloy"),
            "format": "wav",
        },
        "messages": [{"role": "user", "content": example["input"]}],
    }


def _samples(samples: dict[str, str]) -> tuple[Sample, ...]:
    return tuple(Sample(name, LANGUAGES[name][0], code) for name, code in samples.items())
