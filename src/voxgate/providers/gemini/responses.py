"""Reading generateContent answers: the parts of the first candidate, and usage metadata."""

from typing import Any

from voxgate.providers.errors import UpstreamError
from voxgate.providers.protocols import ProviderUsage


def parts(provider: str, payload: Any) -> list[dict[str, Any]]:
    try:
        found = payload["candidates"][0]["content"]["parts"]
    except (KeyError, IndexError, TypeError) as exc:
        raise UpstreamError(provider, "the answer has no candidate content") from exc
    if not isinstance(found, list) or not found:
        raise UpstreamError(provider, "the answer's candidate has no parts")
    return found


def has_parts(payload: Any) -> bool:
    """Whether an answer (or a streamed event: the last may carry only usage) has parts."""
    try:
        return bool(payload["candidates"][0]["content"]["parts"])
    except (KeyError, IndexError, TypeError):
        return False


def usage(payload: Any, *, audio_out: bool) -> ProviderUsage:
    metadata = payload.get("usageMetadata") or {}
    prompt = metadata.get("promptTokenCount")
    candidates = metadata.get("candidatesTokenCount")
    if audio_out:
        return ProviderUsage(input_text_tokens=prompt, output_audio_tokens=candidates)
    return ProviderUsage(input_audio_tokens=prompt, output_text_tokens=candidates)
