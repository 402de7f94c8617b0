"""speech.vocab: the alphabet and text normalisation (numbers, times, symbols spelled out)."""

import pytest

from speech.vocab import BLANK, Alphabet, normalize_text, number_to_words, ordinal_to_words, year_to_words


def test_default_alphabet():
    a = Alphabet()
    assert len(a) == 29 and BLANK == 0 == a.blank == Alphabet.BLANK
    assert a.symbols[:3] == ("<blank>", " ", "'") and a.symbols[3] == "a" and a.symbols[-1] == "z"
    assert a.space == 1
    ids = a.encode("don't stop")
    assert BLANK not in ids and a.decode(ids) == "don't stop"


def test_decode_skips_blanks_without_collapsing():
    a = Alphabet()
    h, i = a.encode("hi")
    assert a.decode([BLANK, h, h, BLANK, i, BLANK]) == "hhi"
    with pytest.raises(ValueError, match="out of range"):
        a.decode([29])


def test_encode_names_bad_characters():
    with pytest.raises(ValueError, match=r"\['!', 'H'\]"):
        Alphabet().encode("Hello!")


def test_custom_alphabet_round_trip_and_validation():
    a = Alphabet(["_", " ", "a", "b"])
    assert Alphabet.from_list(a.to_list()) == a and a.encode("ab a") == [2, 3, 1, 2]
    with pytest.raises(ValueError, match="unique"):
        Alphabet(["_", "a", "a"])
    with pytest.raises(ValueError, match="single characters"):
        Alphabet(["_", "ab"])
    with pytest.raises(ValueError, match="at least one"):
        Alphabet(["_"])


@pytest.mark.parametrize(
    "n,words",
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (40, "forty"),
        (99, "ninety nine"),
        (100, "one hundred"),
        (101, "one hundred one"),
        (1000, "one thousand"),
        (1001, "one thousand one"),
        (21000, "twenty one thousand"),
        (1234567, "one million two hundred thirty four thousand five hundred sixty seven"),
        (2_000_000_000, "two billion"),
        (999_999_999_999, "nine hundred ninety nine billion nine hundred ninety nine million "
                          "nine hundred ninety nine thousand nine hundred ninety nine"),
        (-5, "minus five"),
    ],
)
def test_number_to_words(n, words):
    assert number_to_words(n) == words


@pytest.mark.parametrize(
    "n,words",
    [(1, "first"), (2, "second"), (3, "third"), (4, "fourth"), (5, "fifth"), (8, "eighth"), (9, "ninth"),
     (12, "twelfth"), (20, "twentieth"), (21, "twenty first"), (100, "one hundredth"), (1000, "one thousandth")],
)
def test_ordinal_to_words(n, words):
    assert ordinal_to_words(n) == words


@pytest.mark.parametrize(
    "n,words",
    [(1995, "nineteen ninety five"), (1900, "nineteen hundred"), (1905, "nineteen oh five"),
     (2000, "two thousand"), (2007, "two thousand seven"), (2010, "twenty ten"), (2024, "twenty twenty four"),
     (1100, "eleven hundred"), (1066, "one thousand sixty six")],
)
def test_year_to_words(n, words):
    assert year_to_words(n) == words


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Hello, World!", "hello world"),
        ("  lots   of\tspace\n", "lots of space"),
        ("I have 3 cats", "i have three cats"),
        ("1,000,000 people", "one million people"),
        ("3.5", "three point five"),
        ("pi is 3.14", "pi is three point one four"),
        ("the 1st, 2nd, 3rd and 21st", "the first second third and twenty first"),
        ("at 7:30", "at seven thirty"),
        ("7:05 pm", "seven oh five p m"),
        ("7:05 P.M.", "seven oh five p m"),
        ("meet at 7:00", "meet at seven o'clock"),
        ("at 9am", "at nine a m"),
        ("born in 1995.", "born in nineteen ninety five"),
        ("in 2010 and 2005", "in twenty ten and two thousand five"),
        ("the 1990s", "the nineteen nineties"),
        ("1995000", "one million nine hundred ninety five thousand"),
        ("$5", "five dollars"),
        ("$1", "one dollar"),
        ("$5.50", "five dollars fifty cents"),
        ("$0.99", "ninety nine cents"),
        ("$2 million", "two million dollars"),
        ("50%", "fifty percent"),
        ("Tom & Jerry", "tom and jerry"),
        ("me@home", "me at home"),
        ("2+2", "two plus two"),
        ("-4 degrees", "minus four degrees"),
        ("pages 10-20", "pages ten twenty"),
        ("007", "zero zero seven"),
        ("mp3", "mp three"),
        ("Don’t", "don't"),
        ("rock 'n' roll", "rock n roll"),
        ("'quoted'", "quoted"),
        ("the dogs' bowls", "the dogs bowls"),
        ("Café", "cafe"),
        ("Straße", "strasse"),
        ("well-known (really)", "well known really"),
        ("", ""),
        ("?!", ""),
    ],
)
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


def test_normalised_text_always_encodes():
    alphabet = Alphabet()
    samples = ["On 1 May 1995 at 7:30 pm I paid $5 & 10%.", "Straße № 5 — ½ price!", "日本 and 漢字",
               "v1.2.3 @ 12:30:45", "It's 100°F… #hot", "a''b ' c"]
    for text in samples:
        norm = normalize_text(text)
        alphabet.encode(norm)  # no ValueError
        assert norm == norm.strip() and "  " not in norm


def test_normalize_rejects_non_strings():
    with pytest.raises(ValueError, match="str"):
        normalize_text(5)
