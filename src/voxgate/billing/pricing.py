"""Turns metered quantities into integer micro-USD at a catalog row's prices."""

from dataclasses import dataclass, fields, replace
from decimal import Context, Decimal, Inexact, localcontext

from voxgate.catalog.schema import Pricing
from voxgate.money import MICRO
from voxgate.types import MicroUSD

MILLISECONDS_PER_MINUTE = 60_000
# Sums and products of prices are exact, or raise: only the total is ever rounded.
EXACT = Context(prec=60, traps=[Inexact])
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Metered:
    """What one request consumed, in the units providers bill."""

    input_text_tokens: int = 0
    output_text_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    audio_milliseconds: int = 0
    input_characters: int = 0
    requests: int = 1

    def __post_init__(self) -> None:
        for name in _METERED_FIELDS:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")


_METERED_FIELDS = tuple(item.name for item in fields(Metered))
# What a usage record carries of a Metered, under the same names (billing.usage.UsageRecord).
RECORDED_QUANTITIES = tuple(name for name in _METERED_FIELDS if name != "requests")


def within_cap(metered: Metered, cap: int) -> Metered:
    """What an answer is charged when it was asked to take at most `cap` output tokens: the
    output cut to the cap, audio first, then text (a provider past it is its own overrun)."""
    excess = metered.output_text_tokens + metered.output_audio_tokens - cap
    if excess <= 0:
        return metered
    audio_cut = min(excess, metered.output_audio_tokens)
    return replace(
        metered,
        output_audio_tokens=metered.output_audio_tokens - audio_cut,
        output_text_tokens=metered.output_text_tokens - (excess - audio_cut),
    )


def cost(pricing: Pricing, metered: Metered) -> MicroUSD:
    """The exact cost, rounded once, half up, to the micro-dollar.

    Per-token prices are quoted per 1M tokens, so a price in dollars per 1M tokens is the price
    in micro-dollars per token. A row without audio token rates bills audio tokens at its text
    rates, as the seed row's single input/output price does.
    """
    audio_in = pricing.audio_input_per_1m_tokens or pricing.text_input_per_1m_tokens
    audio_out = pricing.audio_output_per_1m_tokens or pricing.text_output_per_1m_tokens
    with localcontext(EXACT):
        terminating = (
            _per_unit(pricing.text_input_per_1m_tokens, metered.input_text_tokens)
            + _per_unit(pricing.text_output_per_1m_tokens, metered.output_text_tokens)
            + _per_unit(audio_in, metered.input_audio_tokens)
            + _per_unit(audio_out, metered.output_audio_tokens)
            + _per_unit(pricing.per_1m_characters, metered.input_characters)
            + _per_unit(pricing.per_request, metered.requests) * MICRO
        )
        per_minute = _per_unit(pricing.audio_per_minute, metered.audio_milliseconds) * MICRO
        # Per-minute prices divide by 60,000 ms, which a decimal cannot always hold exactly:
        # the sum is kept in 1/60,000ths of a micro-dollar and divided once, in integers.
        scaled = terminating * MILLISECONDS_PER_MINUTE + per_minute
    numerator, denominator = scaled.as_integer_ratio()
    return round_half_up(numerator, denominator * MILLISECONDS_PER_MINUTE)


def affordable_output(pricing: Pricing, given: Metered, wanted: int, spare: int) -> int:
    """How many output tokens, up to `wanted`, an answer to `given` may take at the dearest
    output price within `spare` micro-USD (0 when not even one)."""
    per_token = _output_price(pricing)
    tokens = wanted
    if per_token > 0:
        tokens = min(tokens, int((spare - cost(pricing, given)) / per_token))
    # The total is rounded once, up: a bound from the per-token price can be one token over.
    while tokens > 1 and cost(pricing, with_output(pricing, given, tokens)) > spare:
        tokens -= 1
    if tokens < 1 or cost(pricing, with_output(pricing, given, tokens)) > spare:
        return 0
    return tokens


def with_output(pricing: Pricing, given: Metered, output_tokens: int) -> Metered:
    """`given` answered with `output_tokens` of the dearest output kind (text or audio)."""
    text = pricing.text_output_per_1m_tokens or _ZERO
    if text >= _output_price(pricing):
        return replace(given, output_text_tokens=output_tokens, output_audio_tokens=0)
    return replace(given, output_text_tokens=0, output_audio_tokens=output_tokens)


def _output_price(pricing: Pricing) -> Decimal:
    """The dearest output token's price in micro-USD (audio falls back to the text rate)."""
    text = pricing.text_output_per_1m_tokens or _ZERO
    return max(text, pricing.audio_output_per_1m_tokens or text)


def hold_amount(pricing: Pricing, worst_cases: list[Metered]) -> MicroUSD:
    """What to hold before a call: the dearest worst case, never below the minimum hold."""
    minimum = round_half_up(*EXACT.multiply(pricing.minimum_hold_usd, MICRO).as_integer_ratio())
    return MicroUSD(max([minimum, *(cost(pricing, metered) for metered in worst_cases)]))


def round_half_up(numerator: int, denominator: int) -> MicroUSD:
    """Exact rounding of a non-negative ratio: floor(numerator / denominator + 1/2)."""
    return MicroUSD((2 * numerator + denominator) // (2 * denominator))


def _per_unit(price: Decimal | None, quantity: int) -> Decimal:
    if price is None or quantity == 0:
        return _ZERO
    return price * quantity
