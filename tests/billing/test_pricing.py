from dataclasses import fields
from decimal import Decimal

import pytest

from voxgate.billing.pricing import RECORDED_QUANTITIES, Metered, cost, hold_amount, within_cap
from voxgate.billing.usage import UsageRecord
from voxgate.catalog.schema import Pricing
from voxgate.money import format_usd
from voxgate.types import MicroUSD

SEED = Pricing(
    minimum_hold_usd=Decimal("0.010000"),
    text_input_per_1m_tokens=Decimal("2.50"),
    text_output_per_1m_tokens=Decimal("10.00"),
)


@pytest.mark.parametrize(
    ("metered", "micro_usd"),
    [
        # 1,000 in at 2.5 µ$ + 500 out at 10 µ$ = 2,500 + 5,000.
        (Metered(input_text_tokens=1_000, output_text_tokens=500), 7_500),
        # 1M input tokens cost exactly $2.50.
        (Metered(input_text_tokens=1_000_000), 2_500_000),
        # One token: 2.5 µ$ rounds half up to 3.
        (Metered(input_text_tokens=1), 3),
        # Three tokens: 7.5 µ$ → 8; rounding happens once on the sum, not per line.
        (Metered(input_text_tokens=3, output_text_tokens=0), 8),
        (Metered(input_text_tokens=1, input_audio_tokens=1), 5),
        # Without audio rates, audio tokens bill at the text rates (the seed's single price).
        (Metered(output_audio_tokens=16_384), 163_840),
        (Metered(), 0),
    ],
)
def test_seed_prices(metered: Metered, micro_usd: int) -> None:
    assert cost(SEED, metered) == micro_usd


def test_audio_rates_apply_when_present() -> None:
    gpt_audio = SEED.model_copy(
        update={
            "audio_input_per_1m_tokens": Decimal("32.00"),
            "audio_output_per_1m_tokens": Decimal("64.00"),
        }
    )
    assert (
        cost(gpt_audio, Metered(input_audio_tokens=100, output_audio_tokens=200)) == 3_200 + 12_800
    )


def test_per_minute_and_per_character() -> None:
    whisper = Pricing(minimum_hold_usd=Decimal("0"), audio_per_minute=Decimal("0.006"))
    assert cost(whisper, Metered(audio_milliseconds=60_000)) == 6_000
    assert cost(whisper, Metered(audio_milliseconds=1)) == 0  # 0.1 µ$ rounds to 0
    assert cost(whisper, Metered(audio_milliseconds=9)) == 1  # 0.9 µ$ rounds to 1
    tts = Pricing(minimum_hold_usd=Decimal("0"), per_1m_characters=Decimal("15.00"))
    assert cost(tts, Metered(input_characters=4096)) == 61_440


def test_hold_is_the_dearest_worst_case_but_at_least_the_minimum() -> None:
    assert hold_amount(SEED, [Metered(input_text_tokens=10)]) == 10_000
    assert hold_amount(SEED, [Metered(output_text_tokens=16_384), Metered()]) == 163_840


def test_negative_quantities_are_refused() -> None:
    with pytest.raises(ValueError, match="characters"):
        Metered(input_characters=-1)


@pytest.mark.parametrize(
    ("micro_usd", "text"),
    [(10_000, "0.010000"), (5_000_000, "5.000000"), (1, "0.000001"), (-25, "-0.000025")],
)
def test_format_usd(micro_usd: int, text: str) -> None:
    assert format_usd(MicroUSD(micro_usd)) == text


def test_an_answer_past_its_cap_is_charged_the_cap_audio_first() -> None:
    answer = Metered(output_text_tokens=8, output_audio_tokens=20)
    assert within_cap(answer, 28) == answer
    assert within_cap(answer, 10) == Metered(output_text_tokens=8, output_audio_tokens=2)
    assert within_cap(answer, 5) == Metered(output_text_tokens=5, output_audio_tokens=0)


def test_a_usage_record_spells_each_metered_quantity_as_metered_does() -> None:
    recorded = {field.name for field in fields(UsageRecord)}
    assert set(RECORDED_QUANTITIES) <= recorded
    assert {field.name for field in fields(Metered)} - set(RECORDED_QUANTITIES) == {"requests"}
