"""The text and duration rules that decide which found speech lines can be transcripts (scripts/speechdata)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from speechdata import normalize as rules  # noqa: E402


def test_text_problem_names_why_a_line_cannot_be_a_transcript():
    babble = {"ha", "hmm"}
    assert rules.text_problem("Open the door.", "open the door", babble) is None
    assert rules.text_problem("Room 101, please.", "room one hundred one please", babble) == "number"
    assert rules.text_problem("Noooo!", "noooo", babble) == "elongated word"
    assert rules.text_problem("Ha, ha!", "ha ha", babble) == "laughter or babble"
    assert rules.text_problem("***", "", babble) == "not clean after normalising"


def test_duration_problem_bounds_seconds_by_letters():
    assert rules.duration_problem("hello there", 1.0) is None          # 10 letters
    assert rules.duration_problem("hello there", 5.0) == "too long for its text"  # > 0.8 + 10/3
    assert rules.duration_problem("hello there", 0.2) == "too short for its text"  # < 10/25
    assert rules.duration_problem("", 1.0) == "no letters"


def test_non_words_catches_grunts_and_invented_words_but_not_names(tmp_path, monkeypatch):
    words = tmp_path / "words"
    words.write_text("\n".join(["look", "buddy", "i'm", "in", "a", "hurry", "so", "move", "will", "uh",
                                "speak", "don't", "you", "favourite", "ask", "about", "the", "plan"]) + "\n")
    monkeypatch.setattr(rules, "DICTIONARIES", (words,))
    rules._dictionary.cache_clear()
    try:
        assert rules.non_words("Look buddy, I'm in a hurry, so move will ya!") == []   # "ya" is informal
        assert rules.non_words("Uh, oop ungha ugga!") == ["oop", "ungha", "ugga"]
        assert rules.non_words("Ask Naomi about the plan.") == []                     # a name inside a line
        names = rules.names_in(["Ask Sparky about the plan."])
        assert names == {"sparky"}
        assert rules.non_words("Sparky, move!") == ["Sparky"]                          # first word: unknown...
        assert rules.non_words("Sparky, move!", names) == []                           # ...unless a known name
    finally:
        rules._dictionary.cache_clear()


def test_non_words_is_skipped_without_a_word_list(tmp_path, monkeypatch):
    monkeypatch.setattr(rules, "DICTIONARIES", (tmp_path / "missing",))
    rules._dictionary.cache_clear()
    try:
        assert rules.non_words("Uh, oop ungha ugga!") == []
    finally:
        rules._dictionary.cache_clear()


@pytest.mark.parametrize("text,ok", [("turn on the light", True), ("it's ten", True), ("Hello", False),
                                     ("two  spaces", False), ("don''t", False)])
def test_is_clean_is_the_model_alphabet(text, ok):
    assert rules.is_clean(text) is ok
