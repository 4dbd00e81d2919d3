"""Speech streamed from a provider that answers whole: the text asked a sentence at a time, each
piece sent on as soon as it is made, the next asked only then, so that a client that hangs up
stops the rest.

Each piece is asked with what is left of the request's output-token cap (what the pieces
before it reported, or made where they reported nothing), so the pieces together stay within
it; the answer ends where the cap does, as a whole answer would be cut there. The joins are
faded over a few milliseconds, so that pieces that begin or end mid-wave do not click.
"""

import re
from collections.abc import AsyncGenerator, Awaitable, Callable

import numpy as np

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.protocols import (
    MeteredPcm,
    ProviderUsage,
    SpeechRequest,
    SpeechResult,
    Upstream,
)

SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+")
FADE_SECONDS = 0.005

Synthesize = Callable[[SpeechRequest, Upstream], Awaitable[SpeechResult]]


def sentences(text: str) -> list[str]:
    return [piece for piece in SENTENCE_END.split(text.strip()) if piece.strip()]


async def by_sentences(
    synthesize: Synthesize, request: SpeechRequest, upstream: Upstream, tokens_per_second: int
) -> AsyncGenerator[MeteredPcm, None]:
    """The speech of `request`, a sentence at a time; each piece says the audio made for it and
    the usage so far (summed over the pieces)."""
    pieces = sentences(request.text)
    spent_in = spent_out = 0
    for index, sentence in enumerate(pieces):
        cap = request.max_output_tokens
        if cap is not None and cap - spent_out <= 0:
            return
        asked = request.model_copy(
            update={
                "text": sentence,
                "max_output_tokens": None if cap is None else cap - spent_out,
            }
        )
        result = await synthesize(asked, upstream)
        made = result.made_seconds or result.audio.duration_seconds
        spent_in += result.usage.input_text_tokens or 0
        spent_out += (
            result.usage.output_audio_tokens
            if result.usage.output_audio_tokens is not None
            else round(made * tokens_per_second)
        )
        audio = faded(result.audio, head=index > 0, tail=index < len(pieces) - 1)
        usage = ProviderUsage(input_text_tokens=spent_in, output_audio_tokens=spent_out)
        yield MeteredPcm(audio.samples, audio.sample_rate, made, usage)


def faded(audio: PcmAudio, *, head: bool, tail: bool) -> PcmAudio:
    """The audio with a short raised-cosine fade in and/or out."""
    samples = np.frombuffer(audio.samples, dtype="<i2").astype(np.float32)
    width = min(round(FADE_SECONDS * audio.sample_rate), len(samples) // 2)
    if width == 0 or not (head or tail):
        return audio
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, width))).astype(np.float32)
    if head:
        samples[:width] *= ramp
    if tail:
        samples[-width:] *= ramp[::-1]
    return PcmAudio(np.round(samples).astype("<i2").tobytes(), audio.sample_rate)
