"""The output alphabet of the acoustic model and the text normalisation for it.

The model writes lowercase letters, space and apostrophe (plus the CTC blank
at index 0). Training and evaluation text must be spelled the way it is
spoken, so `normalize_text` turns "On 1 May 1995 at 7:30 pm I paid $5 & 10%."
into "on one may nineteen ninety five at seven thirty p m i paid five dollars
and ten percent".
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Iterable, Sequence

__all__ = [
    "BLANK",
    "DEFAULT_SYMBOLS",
    "Alphabet",
    "normalize_text",
    "number_to_words",
    "ordinal_to_words",
    "year_to_words",
]

BLANK = 0  # index of the CTC blank in every alphabet

DEFAULT_SYMBOLS: tuple[str, ...] = ("<blank>", " ", "'", *string.ascii_lowercase)


class Alphabet:
    """Symbols of the CTC output layer: index 0 is the blank, the others are single characters."""

    BLANK = BLANK  # also reachable as Alphabet.BLANK

    def __init__(self, symbols: Sequence[str] | None = None) -> None:
        symbols = list(DEFAULT_SYMBOLS if symbols is None else symbols)
        if len(symbols) < 2:
            raise ValueError(f"an alphabet needs the blank and at least one character, got {symbols!r}")
        if not all(isinstance(s, str) for s in symbols):
            raise ValueError(f"alphabet symbols must be strings, got {symbols!r}")
        bad = [s for s in symbols[1:] if len(s) != 1]
        if bad:
            raise ValueError(f"alphabet symbols after the blank must be single characters, got {bad!r}")
        if len(set(symbols)) != len(symbols):
            dupes = sorted({s for s in symbols if symbols.count(s) > 1})
            raise ValueError(f"alphabet symbols must be unique, repeated: {dupes!r}")
        self._symbols = tuple(symbols)
        self._index = {s: i for i, s in enumerate(self._symbols) if i != BLANK}

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    @property
    def blank(self) -> int:
        return BLANK

    @property
    def space(self) -> int | None:
        """Index of the word separator " ", or None if the alphabet has none."""
        return self._index.get(" ")

    def __len__(self) -> int:
        return len(self._symbols)

    def __contains__(self, char: object) -> bool:
        return char in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Alphabet) and other._symbols == self._symbols

    def __hash__(self) -> int:
        return hash(self._symbols)

    def __repr__(self) -> str:
        return f"Alphabet({list(self._symbols)!r})"

    def encode(self, text: str) -> list[int]:
        """Normalised text -> symbol ids; ValueError naming the characters the alphabet lacks."""
        try:
            return [self._index[ch] for ch in text]
        except KeyError:
            missing = sorted({ch for ch in text if ch not in self._index})
            raise ValueError(
                f"text has characters outside the alphabet: {missing!r} in {text!r}; "
                f"normalise it first with speech.vocab.normalize_text"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Symbol ids -> text, skipping blanks (no CTC collapsing of repeats)."""
        out = []
        n = len(self._symbols)
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(f"symbol id {i} is out of range for an alphabet of {n} symbols")
            if i != BLANK:
                out.append(self._symbols[i])
        return "".join(out)

    def to_list(self) -> list[str]:
        return list(self._symbols)

    @classmethod
    def from_list(cls, symbols: Sequence[str]) -> Alphabet:
        return cls(symbols)


# --------------------------------------------------------------------------- numbers to words

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
_IRREGULAR_ORDINALS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_hundred(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] if ones == 0 else f"{_TENS[tens]} {_ONES[ones]}"


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    if hundreds == 0:
        return _below_hundred(rest)
    head = f"{_ONES[hundreds]} hundred"
    return head if rest == 0 else f"{head} {_below_hundred(rest)}"


def _digits(text: str) -> str:
    return " ".join(_ONES[int(d)] for d in text)


def number_to_words(n: int) -> str:
    """Cardinal in words: 1234567 -> "one million two hundred thirty four thousand five hundred sixty seven".

    Numbers of a quadrillion and more are read digit by digit.
    """
    if n < 0:
        return f"minus {number_to_words(-n)}"
    if n >= 10**15:
        return _digits(str(n))
    if n < 1000:
        return _below_thousand(n)
    words = []
    for scale, name in _SCALES:
        count, n = divmod(n, scale)
        if count:
            words.append(f"{_below_thousand(count)} {name}")
    if n:
        words.append(_below_thousand(n))
    return " ".join(words)


def ordinal_to_words(n: int) -> str:
    """Ordinal in words: 1 -> "first", 21 -> "twenty first", 100 -> "one hundredth"."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _IRREGULAR_ORDINALS:
        words[-1] = _IRREGULAR_ORDINALS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_to_words(n: int) -> str:
    """A year the way it is said: 1995 -> "nineteen ninety five", 1905 -> "nineteen oh five",
    1900 -> "nineteen hundred", 2000 -> "two thousand", 2007 -> "two thousand seven", 2019 -> "twenty nineteen".
    Outside 1100-2099 (and for 1000-1099) it falls back to the cardinal."""
    if not 1100 <= n <= 2099 or 2000 <= n <= 2009:
        return number_to_words(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{_below_hundred(high)} hundred"
    if low < 10:
        return f"{_below_hundred(high)} oh {_ONES[low]}"
    return f"{_below_hundred(high)} {_below_hundred(low)}"


def _plural(words: str) -> str:
    """Pluralise the last word: "nineteen ninety" -> "nineteen nineties", "six" -> "sixes"."""
    head, _, last = words.rpartition(" ")
    if last.endswith("y"):
        last = last[:-1] + "ies"
    elif last.endswith(("s", "x")):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def _int_words(digits: str) -> str:
    """Digits (commas allowed) -> words; leading zeros ("007") are read digit by digit."""
    digits = digits.replace(",", "")
    if len(digits) > 1 and digits.startswith("0"):
        return _digits(digits)
    return number_to_words(int(digits))


def _decimal_words(text: str) -> str:
    """ "3.5" -> "three point five", ".25" -> "point two five", "1,000" -> "one thousand"."""
    whole, _, frac = text.partition(".")
    parts = [_int_words(whole)] if whole else []
    if frac:
        parts += ["point", _digits(frac)]
    return " ".join(parts)


# --------------------------------------------------------------------------- normalisation

# A number: digits with optional thousands separators and an optional decimal part.
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_NOT_BEFORE = r"(?<![\w.,])"  # the number is not glued to a preceding word, digit, point or comma
_NOT_AFTER = r"(?![\w]|[.,]\d)"  # ... nor followed by a letter/digit or more digits after a separator
_SCALE_WORDS = r"thousand|million|billion|trillion"

_CURRENCIES = {  # symbol -> (unit, units, subunit, subunits)
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
}
_SYMBOL_WORDS = {"%": "percent", "&": "and", "@": "at", "+": "plus"}
_APOSTROPHES = "\u2018\u2019\u02bc\u2032\u0060\u00b4"  # curly quotes, modifier letter, prime, grave, acute

_RE_CURRENCY = re.compile(
    r"([$€£])\s?(" + _NUM + r")(?![\w]|[.,]\d)(?:\s?(" + _SCALE_WORDS + r")\b)?"
)
_RE_PERCENT = re.compile(_NOT_BEFORE + r"(-?)(" + _NUM + r")\s?%")
_RE_TIME = re.compile(
    r"(?<![\w:.,])([01]?\d|2[0-4]):([0-5]\d)(?![\w:]|[.,]\d)(?:\s?([ap])\.?\s?m\b\.?)?"
)
_RE_HOUR_AMPM = re.compile(r"(?<![\w:.,])(1[0-2]|0?[1-9])\s?([ap])\.?\s?m\b\.?")
_RE_ORDINAL = re.compile(_NOT_BEFORE + r"(\d{1,3}(?:,\d{3})+|\d+)(st|nd|rd|th)\b")
_RE_DECADE = re.compile(_NOT_BEFORE + r"(1[1-9]\d0|20\d0)s\b")
_RE_YEAR = re.compile(_NOT_BEFORE + r"(1[1-9]\d\d|20\d\d)" + _NOT_AFTER)
_RE_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_RE_NUMBER = re.compile(r"(?<![\w.,])(-?)(" + _NUM + r")(?!\w)")
_RE_DIGITS = re.compile(r"\d+")
_RE_NOT_ALLOWED = re.compile(r"[^a-z' ]+")
_RE_STRAY_APOSTROPHE = re.compile(r"(?<![a-z])'|'(?![a-z])")
_RE_SPACES = re.compile(r" {2,}")


def _currency(m: re.Match) -> str:
    unit, units, sub, subs = _CURRENCIES[m.group(1)]
    amount, scale = m.group(2).replace(",", ""), m.group(3)
    if scale:  # "$5 million" -> "five million dollars", "$2.5 billion" -> "two point five billion dollars"
        return f" {_decimal_words(amount)} {scale} {units} "
    whole, _, frac = amount.partition(".")
    whole_n = int(whole) if whole else 0
    if len(frac) > 2:  # "$0.125": read as a decimal amount
        return f" {_decimal_words(amount)} {units} "
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if whole_n or not cents:
        parts.append(f"{number_to_words(whole_n)} {unit if whole_n == 1 else units}")
    if cents:
        parts.append(f"{number_to_words(cents)} {sub if cents == 1 else subs}")
    return " " + " ".join(parts) + " "


def _percent(m: re.Match) -> str:
    sign = "minus " if m.group(1) else ""
    return f" {sign}{_decimal_words(m.group(2))} percent "


def _time(m: re.Match) -> str:
    hour, minute, ampm = int(m.group(1)), int(m.group(2)), m.group(3)
    words = [number_to_words(hour)]
    if minute == 0:
        if not ampm:
            words.append("o'clock")
    elif minute < 10:
        words += ["oh", _ONES[minute]]
    else:
        words.append(_below_hundred(minute))
    if ampm:
        words += [ampm, "m"]
    return " " + " ".join(words) + " "


def _hour_ampm(m: re.Match) -> str:
    return f" {number_to_words(int(m.group(1)))} {m.group(2)} m "


def _ordinal(m: re.Match) -> str:
    return f" {ordinal_to_words(int(m.group(1).replace(',', '')))} "


def _number(m: re.Match) -> str:
    sign = "minus " if m.group(1) else ""
    return f" {sign}{_decimal_words(m.group(2))} "


_LATIN_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D"}
)


def _strip_accents(text: str) -> str:
    """ "Café Straße" -> "Cafe Strasse": accents dropped, a few letters NFKD keeps whole spelled out."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LATIN_LETTERS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize_text(text: str) -> str:
    """Spell text the way it is spoken, in the default alphabet: lowercase a-z, apostrophe, single spaces.

    Order matters: patterns that own their digits (currency, percent, times,
    ordinals, decades, years) are rewritten before plain numbers; letters glued
    to digits ("mp3") are split; then symbols become words, other punctuation
    is dropped and apostrophes survive only between letters.
    """
    if not isinstance(text, str):
        raise ValueError(f"normalize_text expects a str, got {type(text).__name__}")
    for ch in _APOSTROPHES:  # before accent stripping, which would turn "´" into a space
        text = text.replace(ch, "'")
    text = _strip_accents(text).lower()
    text = _RE_CURRENCY.sub(_currency, text)
    text = _RE_PERCENT.sub(_percent, text)
    text = _RE_TIME.sub(_time, text)
    text = _RE_HOUR_AMPM.sub(_hour_ampm, text)
    text = _RE_ORDINAL.sub(_ordinal, text)
    text = _RE_DECADE.sub(lambda m: f" {_plural(year_to_words(int(m.group(1))))} ", text)
    text = _RE_YEAR.sub(lambda m: f" {year_to_words(int(m.group(1)))} ", text)
    text = _RE_LETTER_DIGIT.sub(" ", text)
    text = _RE_NUMBER.sub(_number, text)
    text = _RE_DIGITS.sub(lambda m: f" {_int_words(m.group(0))} ", text)  # leftovers such as "1.2.3"
    for symbol, word in _SYMBOL_WORDS.items():
        text = text.replace(symbol, f" {word} ")
    text = _RE_NOT_ALLOWED.sub(" ", text)
    text = _RE_STRAY_APOSTROPHE.sub("", text)
    return _RE_SPACES.sub(" ", text).strip()
