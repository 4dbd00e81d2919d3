import asyncio
import threading

import bpe_openai
import pytest

from voxgate.billing.metering import TokenCounter


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
