"""What a model's reference page shows, in one language: built once from the catalog row and
rendered twice, as HTML and as Markdown, so the two never disagree."""

import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from voxgate.api.docs.locales import ChatParameter, Language
from voxgate.api.docs.samples import LANGUAGES, code_samples
from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.billing.pricing import Metered, hold_amount
from voxgate.catalog.schema import FieldSpec, ModelRow
from voxgate.gateway.pipeline import RESPONSE_OBJECTS
from voxgate.money import MICRO, format_usd
from voxgate.types import AudioFormat, MicroUSD

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


@dataclass(frozen=True)
class FieldRow:
    name: str
    type: str
    required: str
    accepted: str
    description: str


@dataclass(frozen=True)
class RouteRow:
    provider: str
    upstream_model: str
    keys: tuple[str, ...]


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
    summary: str
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
    aliases: tuple[tuple[str, str], ...]
    fields: tuple[FieldRow, ...]
    payload: str
    response: str
    samples: tuple[Sample, ...]
    chat_samples: tuple[Sample, ...]
    chat_parameters: tuple[ChatParameter, ...]
    checklist: tuple[str, ...]

    @property
    def integration_title(self) -> str:
        return self.t["integration_title"].replace("{model}", self.name)


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
    return PageView(
        t=t,
        id=row.id,
        name=row.name,
        summary=(texts.description if texts else None) or row.description,
        modalities=" → ".join(modalities),
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
        routes=tuple(
            RouteRow(r.provider, r.upstream_model, tuple(c.api_key_env for c in r.credentials))
            for r in row.routes
        ),
        aliases=tuple(
            (alias.id, (texts.aliases.get(alias.id) if texts else None) or alias.reason)
            for alias in row.aliases
        ),
        fields=tuple(
            _field_row(
                spec, t, texts.fields if texts else {}, _hears(row, spec, audio), _reads_text(row)
            )
            for spec in row.fields
        ),
        payload=json.dumps(row.example, indent=2, ensure_ascii=False),
        response=json.dumps(_response_shape(row), indent=2),
        samples=_samples(code_samples(f"{base_url}/api/v1/audio", row.example)),
        chat_samples=_samples(code_samples(f"{base_url}/v1/chat/completions", _chat(row)))
        if chat
        else (),
        chat_parameters=tuple(
            parameter.model_copy(
                update={
                    "description": language.catalog.chat_parameters.get(
                        parameter.name, parameter.description
                    )
                }
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
    """The most the example payload holds: its input counted as one token per character (no
    token is shorter), and the row's output cap at the dearer of its output prices."""
    cap = row.default_output_tokens
    if cap is None:
        return None
    text_in = len(str(row.example.get("input", ""))) + len(str(row.example.get("instructions", "")))
    worst = [
        Metered(text_input_tokens=text_in, text_output_tokens=cap),
        Metered(text_input_tokens=text_in, audio_output_tokens=cap),
    ]
    return "$" + format_usd(hold_amount(row.pricing, worst))


def _hears(row: ModelRow, spec: FieldSpec, audio: AudioLimits) -> AudioLimits | None:
    """The audio limits of a row's input field, when the row takes audio there."""
    return audio if spec.name == "input" and "audio" in row.modalities.input else None


def _reads_text(row: ModelRow) -> bool:
    return "text" in row.modalities.input


def _field_row(
    spec: FieldSpec,
    t: dict[str, str],
    translated: dict[str, str],
    audio: AudioLimits | None,
    reads_text: bool,
) -> FieldRow:
    if spec.accepted:
        accepted = ", ".join(spec.accepted)
    elif spec.minimum is not None or spec.maximum is not None:
        accepted = f"{spec.minimum:g}–{spec.maximum:g}"
    elif audio is not None:
        accepted = _audio_accepted(spec, t, audio, reads_text)
    elif spec.max_length is not None:
        accepted = t["up_to_characters"].replace("{n}", f"{spec.max_length:,}")
    else:
        accepted = t["any_value"]
    return FieldRow(
        name=spec.name,
        type=spec.type,
        required=t["yes"] if spec.required else t["no"],
        accepted=accepted,
        description=translated.get(spec.name, spec.description),
    )


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


def _response_shape(row: ModelRow) -> dict[str, Any]:
    objects = "|".join(RESPONSE_OBJECTS[task] for task in RESPONSE_OBJECTS if task in row.tasks)
    speaks = "audio" in row.modalities.output
    audio_format = cast(
        AudioFormat, row.example.get("response_format") or row.default_format or "mp3"
    )
    data: dict[str, Any] = (
        {
            "content_type": OUTPUT_FORMATS[audio_format].content_type,
            "audio_base64": "<base64-audio>",
        }
        if speaks
        else {"text": "<transcript>", "language": "en", "duration": 6.0}
    )
    return {
        "object": objects,
        "data": data,
        "usage": {"estimated_audio_minutes": "0.100000", "cost_usd": "0.000000"},
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
