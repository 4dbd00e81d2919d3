"""Key-like text is filtered out of a provider's error message; the rest of it is kept."""

import pytest

from voxgate.providers.errors import UpstreamError, without_keys


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Incorrect API key provided: sk-proj-****************abcd.", "abcd"),
        ("Incorrect API key provided: primary-key. You can find your API key at", "primary"),
        ("API key not valid. Please pass a valid API key: AIzaSyD-abcdefghijklmno12", "AIza"),
        ("Access denied due to invalid subscription key 0123456789abcdef0123456789abcdef.", "0123"),
        ("Header was Authorization: Bearer eyJhbGciOi.xyz, refused", "eyJ"),
        ("Key ab******yz is revoked", "ab**"),
    ],
)
def test_a_key_is_filtered(text: str, secret: str) -> None:
    assert secret not in without_keys(text)
    assert "[redacted]" in without_keys(text)
    assert secret not in str(UpstreamError("openai", text))


@pytest.mark.parametrize(
    "text",
    [
        "Model gpt-4o-mini-transcribe-2025-03-20 does not exist.",
        "Invalid value for 'voice': 'sk'. Request id req_0123456789abcdef0123456789abcdef.",
        "2 ** 3 is not a number of seconds",
    ],
)
def test_other_text_is_kept(text: str) -> None:
    assert without_keys(text) == text
