"""How the embedded engine decodes a realtime turn, with a stand-in for Whisper (the real
model's words are checked in tests/providers/local/test_provider.py)."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from voxgate.audio.pcm import PcmAudio
from voxgate.providers.local.transcription import turn_language
from voxgate.providers.local.turns import TURN_WINDOW_SECONDS, decode_turn
from voxgate.providers.protocols import TranscriptionRequest

RATE = 16_000
EOT = 50_256
WORDS = [11, 12, 13]


class FakeHfTokenizer:
    def token_to_id(self, token: str) -> int:
        return EOT

    def decode(self, ids: list[int]) -> str:
        return " ".join(f"word{i}" for i in ids)


class FakeFeatures:
    sampling_rate = RATE

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return np.zeros((80, samples.size // 160 + 1), dtype=np.float32)


@dataclass
class FakeCtranslate:
    tokens: list[int]
    is_multilingual: bool = False
    asked: dict[str, Any] = field(default_factory=dict)

    def generate(self, encoded: Any, prompts: list[list[int]], **options: Any) -> list[Any]:
        self.asked = options
        return [type("Result", (), {"sequences_ids": [self.tokens]})()]


@dataclass
class FakeWhisper:
    model: FakeCtranslate
    hf_tokenizer: FakeHfTokenizer = field(default_factory=FakeHfTokenizer)
    feature_extractor: FakeFeatures = field(default_factory=FakeFeatures)
    encoded_frames: int = 0

    def get_prompt(self, tokenizer: Any, previous: list[int], **options: Any) -> list[int]:
        assert options == {"without_timestamps": True}
        return [EOT + 1, EOT + 106]

    def encode(self, features: np.ndarray) -> np.ndarray:
        self.encoded_frames = features.shape[-1]
        return features


def seconds_of_silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.float32)


def test_a_turn_is_decoded_greedily_in_the_short_window() -> None:
    whisper = FakeWhisper(FakeCtranslate(WORDS))
    text = decode_turn(whisper, seconds_of_silence(3), "en")  # type: ignore[arg-type]
    assert text == "word11 word12 word13"
    assert whisper.model.asked["beam_size"] == 1
    assert whisper.encoded_frames == TURN_WINDOW_SECONDS * 100


@pytest.mark.parametrize(
    "tokens",
    [[11, 12] * 20, list(range(100, 140))],
    ids=["repeats itself", "runs out of tokens"],
)
def test_a_runaway_decode_goes_the_usual_way(tokens: list[int]) -> None:
    whisper = FakeWhisper(FakeCtranslate(tokens))
    assert decode_turn(whisper, seconds_of_silence(2), "en") is None  # type: ignore[arg-type]


def request(seconds: float, **options: Any) -> TranscriptionRequest:
    audio = PcmAudio(b"\0\0" * round(seconds * RATE), RATE)
    return TranscriptionRequest(audio=audio, **options)


@pytest.mark.parametrize(
    ("options", "language"),
    [
        ({"spoken_turn": True, "language": "en"}, "en"),
        ({"language": "en"}, None),
        ({"spoken_turn": True}, None),
        ({"spoken_turn": True, "language": "en", "prompt": "Voxgate"}, None),
        ({"spoken_turn": True, "language": "en", "word_timestamps": True}, None),
        ({"spoken_turn": True, "language": "en", "translate": True}, None),
    ],
    ids=["turn", "upload", "no language", "prompt", "word times", "translation"],
)
def test_only_plain_spoken_turns_take_the_quick_way(
    options: dict[str, Any], language: str | None
) -> None:
    asked = request(3, **options)
    assert turn_language(asked, seconds_of_silence(3)) == language


def test_a_turn_longer_than_the_window_takes_the_usual_way() -> None:
    asked = request(TURN_WINDOW_SECONDS + 1, spoken_turn=True, language="en")
    assert turn_language(asked, seconds_of_silence(TURN_WINDOW_SECONDS + 1)) is None
