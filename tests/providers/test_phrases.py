"""Streamed local speech starts on its first clause: the first phrase's opening clause is a
phrase of its own, cut only where its mark makes a pause; nothing is lost or reordered."""

from voxgate.providers.local.phrases import first_clause_apart


def pieces(*texts: str) -> list[list[str]]:
    """Phrases as Piper's phonemes come: one character each."""
    return [list(text) for text in texts]


def test_the_opening_clause_is_spoken_first_on_its_own() -> None:
    phrases = pieces("ðə sɪmjʊleɪtɚ hɜːd: wʌt taɪm", "ɪz ɪt?")
    assert list(first_clause_apart(phrases)) == pieces("ðə sɪmjʊleɪtɚ hɜːd:", "wʌt taɪm", "ɪz ɪt?")


def test_a_phrase_without_a_clause_mark_stays_whole() -> None:
    phrases = pieces("ðə mjuːziːəm oʊpənz æt naɪn.", "wɛl, ʃʊɹ.")
    assert list(first_clause_apart(phrases)) == phrases  # only the first phrase is cut


def test_a_mark_inside_a_word_or_at_the_end_is_no_cut() -> None:
    assert list(first_clause_apart(pieces("a,b c", "d"))) == pieces("a,b c", "d")
    assert list(first_clause_apart(pieces("ʃʊɹ,  "))) == pieces("ʃʊɹ,  ")
    assert list(first_clause_apart([])) == []
