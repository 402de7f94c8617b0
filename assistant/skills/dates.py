"""Spoken dates: "today", "tomorrow", "friday", "next friday", "christmas", "march fifth",
"the twentieth of july", "5 march 2027", "in three days"; and the way back to words.

A date without a year is its next occurrence (today counts), as people mean it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .numbers import take_number, words

__all__ = ["SpokenDate", "parse_date", "format_date", "day_part", "MONTHS", "WEEKDAYS"]

MONTHS = {"january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
          "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3,
          "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12}
WEEKDAYS = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6}
_MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December"]


def _easter(year: int) -> dt.date:
    """Western Easter Sunday (the anonymous Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


# spoken name -> (name said back, date in a given year); longest names are tried first
HOLIDAYS = {
    "christmas eve": ("Christmas Eve", lambda y: dt.date(y, 12, 24)),
    "christmas day": ("Christmas", lambda y: dt.date(y, 12, 25)),
    "christmas": ("Christmas", lambda y: dt.date(y, 12, 25)),
    "xmas": ("Christmas", lambda y: dt.date(y, 12, 25)),
    "boxing day": ("Boxing Day", lambda y: dt.date(y, 12, 26)),
    "new year's eve": ("New Year's Eve", lambda y: dt.date(y, 12, 31)),
    "new years eve": ("New Year's Eve", lambda y: dt.date(y, 12, 31)),
    "new year's day": ("New Year's Day", lambda y: dt.date(y, 1, 1)),
    "new years day": ("New Year's Day", lambda y: dt.date(y, 1, 1)),
    "new year's": ("New Year", lambda y: dt.date(y, 1, 1)),
    "new years": ("New Year", lambda y: dt.date(y, 1, 1)),
    "new year": ("New Year", lambda y: dt.date(y, 1, 1)),
    "valentine's day": ("Valentine's Day", lambda y: dt.date(y, 2, 14)),
    "valentines day": ("Valentine's Day", lambda y: dt.date(y, 2, 14)),
    "valentine's": ("Valentine's Day", lambda y: dt.date(y, 2, 14)),
    "st patrick's day": ("St Patrick's Day", lambda y: dt.date(y, 3, 17)),
    "saint patrick's day": ("St Patrick's Day", lambda y: dt.date(y, 3, 17)),
    "april fools day": ("April Fools' Day", lambda y: dt.date(y, 4, 1)),
    "april fool's day": ("April Fools' Day", lambda y: dt.date(y, 4, 1)),
    "easter sunday": ("Easter", _easter),
    "easter": ("Easter", _easter),
    "independence day": ("Independence Day", lambda y: dt.date(y, 7, 4)),
    "the fourth of july": ("the Fourth of July", lambda y: dt.date(y, 7, 4)),
    "bastille day": ("Bastille Day", lambda y: dt.date(y, 7, 14)),
    "halloween": ("Halloween", lambda y: dt.date(y, 10, 31)),
    "thanksgiving": ("Thanksgiving", lambda y: _nth_weekday(y, 11, 3, 4)),
    "mother's day": ("Mother's Day", lambda y: _nth_weekday(y, 5, 6, 2)),  # the US date
    "father's day": ("Father's Day", lambda y: _nth_weekday(y, 6, 6, 3)),
}


@dataclass(frozen=True)
class SpokenDate:
    """A date and how to name it back: "Christmas", "March 5", "Friday", "tomorrow"."""

    date: dt.date
    name: str
    relative: bool = False  # today / tomorrow / yesterday: said as a word, not as a calendar date


def format_date(day: dt.date, weekday: bool = True, year: bool = True) -> str:
    """ "Monday, December 7, 2026" (or parts of it)."""
    text = f"{_MONTH_NAMES[day.month - 1]} {day.day}"
    if year:
        text += f", {day.year}"
    return f"{day:%A}, {text}" if weekday else text


def _next_yearly(today: dt.date, make) -> dt.date:
    day = make(today.year)
    return day if day >= today else make(today.year + 1)


def _year(ws: list[str]) -> int | None:
    """An explicit year among the words left: "2027", "twenty twenty seven"."""
    nums = []
    i = 0
    while i < len(ws):
        got = take_number(ws, i, ordinals=False)
        if got is None:
            i += 1
            continue
        nums.append(int(got[0]))
        i = got[1]
    if len(nums) == 1 and 1000 <= nums[0] <= 9999:
        return nums[0]
    if len(nums) == 2 and nums[0] in (19, 20, 21) and 0 <= nums[1] <= 99:
        return nums[0] * 100 + nums[1]
    return None


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


# "tomorrow morning", "friday in the evening", "monday night": the day is the date, the part hints at the hour
_DAY_PART = re.compile(r"\b(?:in the |this |at |on )?(morning|afternoon|evening|night)s?\b")
_POSSESSIVE = {"tomorrows": "tomorrow", "todays": "today", "tonights": "tonight", "yesterdays": "yesterday"}


def day_part(text: str | None) -> str | None:
    """"morning", "afternoon", "evening" or "night" when a date phrase names a part of the day."""
    m = _DAY_PART.search(" ".join(words(text or "")))
    return m.group(1) if m else None


def parse_date(text: str, today: dt.date) -> SpokenDate | None:
    """The date a phrase names, relative to `today`; None when it names none."""
    iso = _iso(text)
    if iso:
        return SpokenDate(iso, format_date(iso, weekday=False))
    phrase = " ".join(_POSSESSIVE.get(w, w) for w in words(text))
    phrase = _DAY_PART.sub(" ", phrase).strip()
    text = phrase
    for key in sorted(HOLIDAYS, key=len, reverse=True):
        if key in phrase:
            name, make = HOLIDAYS[key]
            year = _year(phrase.replace(key, " ").split())
            day = make(year) if year else _next_yearly(today, make)
            return SpokenDate(day, name)
    ws = [w for w in words(text) if w not in ("on", "for", "until", "till", "til", "is", "it", "date")]
    joined = " ".join(ws)
    for phrase_, offset in (("the day after tomorrow", 2), ("day after tomorrow", 2),
                            ("the day before yesterday", -2), ("day before yesterday", -2),
                            ("tomorrow", 1), ("tonight", 0), ("today", 0), ("yesterday", -1), ("now", 0)):
        if joined == phrase_ or joined == "this " + phrase_:
            return SpokenDate(today + dt.timedelta(days=offset), phrase_.replace("the day", "day"), True)
    if len(ws) >= 2 and ws[0] == "in":  # in three days, in a week, in two weeks
        rest = ws[1:]
        got = take_number(rest, 0, ordinals=False) if rest[0] not in ("a", "an") else (1, 1, False)
        if got and got[1] == len(rest) - 1 and rest[-1] in ("day", "days", "week", "weeks"):
            days = int(got[0]) * (7 if rest[-1].startswith("week") else 1)
            day = today + dt.timedelta(days=days)
            return SpokenDate(day, format_date(day, year=day.year != today.year))
    weekday = [WEEKDAYS[w.rstrip("s")] for w in ws if w.rstrip("s") in WEEKDAYS]
    months = [(k, MONTHS[w]) for k, w in enumerate(ws) if w in MONTHS]
    if weekday and not months:
        ahead = (weekday[0] - today.weekday()) % 7
        if "next" in ws and ahead == 0:
            ahead = 7
        day = today + dt.timedelta(days=ahead)
        return SpokenDate(day, f"{day:%A}")
    # the day of the month: "march fifth", "the fifth of march", "5 march", "march the 5th", "the fifth"
    rest = [w for w in ws if w not in ("the", "of", "this", "next")]
    month = None
    if months:
        month = months[0][1]
        rest = [w for w in rest if w not in MONTHS]
    got = take_number(rest, 0) if rest else None
    if got is None:
        return None
    day_of_month = int(got[0])
    year = _year(rest[got[1]:]) if got[1] < len(rest) else None
    if got[1] < len(rest) and year is None:
        return None
    if month is None:
        if not got[2] and len(rest) == 1:  # a bare cardinal ("five") is not a date
            return None
        day = _safe_date(today.year, today.month, day_of_month)
        if day is None or day < today:
            nxt = dt.date(today.year + today.month // 12, today.month % 12 + 1, 1)
            day = _safe_date(nxt.year, nxt.month, day_of_month)
        if day is None:
            return None
        return SpokenDate(day, format_date(day, weekday=False, year=day.year != today.year))
    if year is not None:
        day = _safe_date(year, month, day_of_month)
    else:
        day = _safe_date(today.year, month, day_of_month)
        if day is not None and day < today:
            day = _safe_date(today.year + 1, month, day_of_month)
    if day is None:
        return None
    return SpokenDate(day, format_date(day, weekday=False, year=year is not None))


def _iso(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None
