from voxgate.billing.metering import TokenCounter


def test_counts_o200k_tokens_offline() -> None:
    counter = TokenCounter()
    assert counter.count("Hello world") == 2  # "Hello", " world" in every OpenAI encoding
    assert counter.count("") == 0
    assert counter.count("Hello world " * 50) > counter.count("Hello world " * 10) > 10
