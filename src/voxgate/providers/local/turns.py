"""A spoken turn of a live conversation, decoded for speed: its voice activity detector already
cut it, and a person is waiting for the answer.

faster-whisper runs Whisper's encoder over a whole 30-second window whatever the clip's length,
and on tiny.en that encoder is nine tenths of a short turn's work. Cut to a 10-second window it
costs a seventh (CPU time, one 3-second turn: 842 ms → 115 ms), and greedy decoding saves a
third of what is left; on the benchmark's phrases the words came back as with the full window
and beam 5. Windows shorter than that made Whisper repeat the clip over and over, so turns past
the window, and any decode that repeats itself anyway, go the usual way.
"""

import zlib
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

TURN_WINDOW_SECONDS = 10
FRAMES_PER_SECOND = 100
# Speech runs at some four tokens a second; past twice that the decoder is repeating itself.
MOST_TOKENS_PER_SECOND = 8
FEWEST_TOKENS = 16
# Whisper's own bound: text that compresses further than this repeats itself.
MOST_COMPRESSIBLE = 2.4


def fits_turn_window(samples: npt.NDArray[np.float32], sample_rate: int) -> bool:
    return samples.size <= TURN_WINDOW_SECONDS * sample_rate


def decode_turn(
    model: "WhisperModel", samples: npt.NDArray[np.float32], language: str
) -> str | None:
    """The turn's words, greedily decoded in a short window; None when the decoder repeated
    itself or ran out of tokens (the caller then decodes it the usual way)."""
    # Here, not at the top: a gateway that never uses the engine does without faster-whisper.
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    # The extractor pads one frame's worth of samples; the window's rest is padded as
    # faster-whisper pads its own.
    features = model.feature_extractor(samples)[:, :-1]
    window = pad_or_trim(features, TURN_WINDOW_SECONDS * FRAMES_PER_SECOND)
    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
    )
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
    seconds = samples.size / model.feature_extractor.sampling_rate
    most_tokens = max(FEWEST_TOKENS, round(seconds * MOST_TOKENS_PER_SECOND))
    [result] = model.model.generate(
        model.encode(window),
        [prompt],
        beam_size=1,
        max_length=len(prompt) + most_tokens,
    )
    tokens = result.sequences_ids[0]
    text = str(tokenizer.decode(tokens)).strip()
    return None if len(tokens) >= most_tokens or _repeats_itself(text) else text


def _repeats_itself(text: str) -> bool:
    data = text.encode()
    return bool(data) and len(data) / len(zlib.compress(data)) > MOST_COMPRESSIBLE
