"""Numbers, ordinals, times and dates spelled out as spoken English words (lowercase)."""
from __future__ import annotations

__all__ = ["number_words", "ordinal_words", "year_words", "time_words", "digit_string"]

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                     "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def number_words(n: int) -> str:
    """0 <= n < 10**12 as words: 1234 -> 'one thousand two hundred thirty four'."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            rest = n % size
            return number_words(n // size) + " " + name + ("" if rest == 0 else " " + number_words(rest))
    raise AssertionError(n)


def ordinal_words(n: int) -> str:
    """21 -> 'twenty first'."""
    words = number_words(n).split()
    last = words[-1]
    if last in ORDINAL_IRREGULAR:
        words[-1] = ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_words(y: int) -> str:
    """1999 -> 'nineteen ninety nine', 2005 -> 'two thousand five', 2024 -> 'twenty twenty four'."""
    if 2000 <= y < 2010:
        return number_words(y)
    if 1000 <= y < 10000 and y % 100 == 0 and y % 1000 != 0:
        return number_words(y // 100) + " hundred"
    if 1000 <= y < 10000:
        hi, lo = divmod(y, 100)
        lo_words = "hundred" if lo == 0 else ("oh " + ONES[lo] if lo < 10 else number_words(lo))
        return number_words(hi) + " " + lo_words
    return number_words(y)


def time_words(hour: int, minute: int, suffix: str | None = None) -> str:
    """(7, 30, 'am') -> 'seven thirty a m'; (9, 5) -> 'nine oh five'; (10, 0) -> "ten o'clock"."""
    if minute == 0:
        text = number_words(hour) + (" o'clock" if suffix is None else "")
    elif minute < 10:
        text = number_words(hour) + " oh " + ONES[minute]
    else:
        text = number_words(hour) + " " + number_words(minute)
    if suffix:
        text += " " + " ".join(suffix.replace(".", ""))
    return text


def digit_string(digits: str) -> str:
    """'4071' -> 'four zero seven one' (phone numbers, codes)."""
    return " ".join(ONES[int(d)] for d in digits if d.isdigit())
