"""One long request cannot take the engine's memory: text is spoken in bounded phrases."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.audio_probe import probe
from voxgate.providers.local.phrases import MAX_PHRASE_PHONEMES, WORD_BREAK, bounded_phrases

MAX_PEAK_GROWTH_MIB = 300
# One sentence of OpenAI's longest input: no punctuation, so no sentence break helps.
UNPUNCTUATED = ("hello world " * 342)[:4096]


@pytest.mark.slow
def test_a_4096_character_sentence_is_spoken_within_300_mib(tmp_path: Path) -> None:
    text = tmp_path / "text.txt"
    text.write_text(UNPUNCTUATED)
    mp3 = tmp_path / "speech.mp3"
    probe_script = Path(__file__).with_name("rss_probe.py")
    run = subprocess.run(
        [sys.executable, str(probe_script), str(text), str(tmp_path / "data"), str(mp3)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    growth = json.loads(run.stdout.strip().splitlines()[-1])
    assert growth["peak_mib"] < MAX_PEAK_GROWTH_MIB, growth
    audio = probe(mp3.read_bytes())
    # 683 words at Piper's pace of two to five words a second.
    assert 683 / 5 < audio.duration_seconds < 683 / 2
    assert audio.peak > 0.1


def phonemes(text: str) -> list[str]:
    return list(text)


def test_short_sentences_stay_whole() -> None:
    sentences = [phonemes("hˈɛloʊ wˈɜːld"), phonemes("ɡʊdbˈaɪ")]
    assert list(bounded_phrases(sentences)) == sentences


def test_a_long_sentence_is_cut_at_word_breaks_within_the_limit() -> None:
    words = [f"w{index:03d}" for index in range(400)]
    sentence = phonemes(" ".join(words))
    phrases = list(bounded_phrases([sentence], limit=50))
    assert all(0 < len(phrase) <= 50 for phrase in phrases)
    assert all(phrase[0] != WORD_BREAK and phrase[-1] != WORD_BREAK for phrase in phrases)
    # Nothing lost or split inside a word: the phrases' words are the sentence's words.
    assert [word for phrase in phrases for word in "".join(phrase).split()] == words


def test_a_cut_prefers_a_clause_break() -> None:
    sentence = phonemes("one two three four five six, seven eight nine ten")
    first = next(bounded_phrases([sentence], limit=40))
    assert "".join(first) == "one two three four five six,"


def test_a_word_longer_than_the_limit_is_cut_inside_it() -> None:
    sentence = phonemes("a" * (MAX_PHRASE_PHONEMES * 2 + 5))
    phrases = list(bounded_phrases([sentence]))
    assert [len(phrase) for phrase in phrases] == [MAX_PHRASE_PHONEMES, MAX_PHRASE_PHONEMES, 5]


def test_sentences_of_only_breaks_are_left_out() -> None:
    assert list(bounded_phrases([[], [WORD_BREAK, WORD_BREAK]])) == []
