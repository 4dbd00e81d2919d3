"""Gemini Live's `usageMetadata` as OpenAI realtime usage, which the gateway prices by the
serving row: tokens in and out by modality, as Gemini reports them per turn."""

from typing import Any


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def openai_usage(usage: dict[str, Any] | None, audio_out: bool) -> dict[str, Any]:
    """Gemini's usageMetadata as OpenAI realtime usage: tokens in and out by modality (a
    count Gemini gives without a breakdown is text in, and out in the session's modality)."""
    usage = usage or {}
    prompt = _by_modality(usage.get("promptTokensDetails"))
    answer = _by_modality(usage.get("responseTokensDetails"))
    prompt_total, answer_total = (
        _count(usage.get("promptTokenCount")),
        _count(usage.get("responseTokenCount")),
    )
    if not prompt:
        prompt = {"TEXT": prompt_total}
    if not answer:
        answer = {"AUDIO" if audio_out else "TEXT": answer_total}
    text_in, audio_in = prompt.get("TEXT", 0), prompt.get("AUDIO", 0)
    text_out = answer.get("TEXT", 0) + _count(usage.get("thoughtsTokenCount"))
    audio_out_tokens = answer.get("AUDIO", 0)
    return {
        "total_tokens": text_in + audio_in + text_out + audio_out_tokens,
        "input_tokens": text_in + audio_in,
        "output_tokens": text_out + audio_out_tokens,
        "input_token_details": {
            "text_tokens": text_in,
            "audio_tokens": audio_in,
            "cached_tokens": _count(usage.get("cachedContentTokenCount")),
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out_tokens},
    }


def _by_modality(details: object) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in details if isinstance(details, list) else []:
        entry = _object(entry)
        modality = str(entry.get("modality", "TEXT")).upper()
        counts[modality] = counts.get(modality, 0) + _count(entry.get("tokenCount"))
    return counts


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def forwarded_usage(usage: dict[str, Any], audio_tokens: int, text_tokens: int) -> dict[str, Any]:
    """OpenAI realtime usage with the output cut to what was forwarded (a response stopped at
    its cap): never more output than Gemini reported, nor than the client was sent."""
    details = usage["output_token_details"]
    text_out = min(details["text_tokens"], text_tokens)
    audio_out = min(details["audio_tokens"], audio_tokens)
    return usage | {
        "total_tokens": usage["input_tokens"] + text_out + audio_out,
        "output_tokens": text_out + audio_out,
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }
