import asyncio
import threading

import bpe_openai
import pytest

from tests.cpu_budget import cpu_seconds_at_most
from voxgate.billing.metering import MAX_COUNTED_CHARACTERS, TokenCounter
from voxgate.errors import InvalidRequestError


def test_counts_o200k_tokens_offline() -> None:
    counter = TokenCounter()
    assert counter.count("Hello world") == 2  # "Hello", " world" in every OpenAI encoding
    assert counter.count("") == 0
    assert counter.count("Hello world " * 50) > counter.count("Hello world " * 10) > 10


async def test_ready_loads_the_encoding_without_stalling_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_get_encoding = bpe_openai.get_encoding
    loop_ran = threading.Event()

    def slow_get_encoding(name: str) -> object:
        # A load on the loop's own thread would wait here in vain: the loop could not tick.
        assert loop_ran.wait(timeout=10), "the event loop stood still while the encoding loaded"
        return real_get_encoding(name)

    monkeypatch.setattr(bpe_openai, "get_encoding", slow_get_encoding)
    counter = TokenCounter()

    async def tick() -> None:
        await asyncio.sleep(0.01)
        loop_ran.set()  # other requests went on while it loaded

    ticker = asyncio.create_task(tick())
    await counter.ready()
    await ticker
    assert counter.count("Hello world") == 2


@pytest.mark.parametrize(
    ("unit", "repeats"),
    [
        ("a", 1_000_001),  # the tokenizer's limit on characters
        ("ab ", 300_000),  # its limit of 200,000 tokens
    ],
)
def test_a_text_past_the_tokenizers_limits_is_counted(unit: str, repeats: int) -> None:
    """Both once raised a ValueError that reached the client as a 500. The tokens a unit adds
    are measured below the limits (the difference of two counts cancels the text's ends)."""
    counter = TokenCounter()
    per_unit = (counter.count(unit * 20_000) - counter.count(unit * 10_000)) / 10_000
    pieces = len(unit) * repeats / 100_000
    assert abs(counter.count(unit * repeats) - per_unit * repeats) <= 2 * pieces + 2


def test_counting_in_pieces_counts_as_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut into 500-character pieces, varied text counts exactly as the tokenizer counts it
    whole (the oracle: one call, below its limits)."""
    words = ["Hello", "world,", "gateway", "'s", "12345", "Ünïcode", "日本語", "\n", "  x", "!?"]
    text = " ".join(words[(n * 7) % len(words)] for n in range(20_000))
    whole = len(bpe_openai.get_encoding("o200k_base").encode_ordinary(text))
    monkeypatch.setattr("voxgate.billing.metering.PIECE_CHARACTERS", 500)
    assert TokenCounter().count(text) == whole


def test_a_text_past_what_any_model_takes_is_the_clients_error() -> None:
    """Counting costs CPU before any hold: past MAX_COUNTED_CHARACTERS it is refused, cheaply."""
    with cpu_seconds_at_most(0.05), pytest.raises(InvalidRequestError) as refused:
        TokenCounter().count("a" * (MAX_COUNTED_CHARACTERS + 1))
    assert refused.value.status_code == 400 and refused.value.code == "text_too_long"
