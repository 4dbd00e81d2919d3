import asyncio
import time

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

    def slow_get_encoding(name: str) -> object:
        time.sleep(0.3)  # as slow as a cold load of the real file
        return real_get_encoding(name)

    monkeypatch.setattr(bpe_openai, "get_encoding", slow_get_encoding)
    counter = TokenCounter()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await counter.ready()
    ticker.cancel()
    assert ticks >= 10  # other requests went on while it loaded
    assert counter.count("Hello world") == 2
