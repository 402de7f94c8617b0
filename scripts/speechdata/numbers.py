"""Spoken-number helpers for the synthesis templates, built on speech.vocab's number words.

speech.vocab spells numbers inside free text; the templates here compose spoken
phrases directly (times with "oh", digit-by-digit codes), so they only add those two.
"""
from __future__ import annotations

from speech.vocab import number_to_words as number_words
from speech.vocab import ordinal_to_words as ordinal_words
from speech.vocab import year_to_words as year_words

__all__ = ["number_words", "ordinal_words", "year_words", "time_words", "digit_string"]


def time_words(hour: int, minute: int, suffix: str | None = None) -> str:
    """(7, 30, 'am') -> 'seven thirty a m'; (9, 5) -> 'nine oh five'; (10, 0) -> "ten o'clock"."""
    if minute == 0:
        text = number_words(hour) + (" o'clock" if suffix is None else "")
    elif minute < 10:
        text = number_words(hour) + " oh " + number_words(minute)
    else:
        text = number_words(hour) + " " + number_words(minute)
    if suffix:
        text += " " + " ".join(suffix.replace(".", ""))
    return text


def digit_string(digits: str) -> str:
    """'4071' -> 'four zero seven one' (phone numbers, codes)."""
    return " ".join(number_words(int(d)) for d in digits if d.isdigit())
