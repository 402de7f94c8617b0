"""Spoken numbers, durations and times of day, in words or digits; and the way back to words.

The one parser every skill uses: "seventeen" -> 17, "two point five" -> 2.5, "a hundred and five" ->
105, "twentieth" -> 20 (ordinal), "an hour and a half" -> 5400 s, "2 minutes 30 seconds" -> 150 s,
"quarter to eight" -> 7:45, "seven thirty pm" -> 19:30.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["words", "take_number", "parse_number", "parse_duration", "parse_time_of_day", "TimeOfDay",
           "format_number", "format_duration", "format_clock"]

UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
         "nine": 9}
TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
         "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90}
SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
ORDINAL_UNITS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
                 "eighth": 8, "ninth": 9}
ORDINAL_TEENS = {"tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
                 "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19}
ORDINAL_TENS = {"twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60,
                "seventieth": 70, "eightieth": 80, "ninetieth": 90}

_TOKEN = re.compile(r"\d{1,2}:\d\d|\d+(?:\.\d+)?(?:st|nd|rd|th)?|\.\d+|[a-z]+(?:'[a-z]+)?|[%+*/^×÷=()-]")
_DIGITS = re.compile(r"(\d+(?:\.\d+)?)(st|nd|rd|th)?")


def words(text: str) -> list[str]:
    """Lower-case tokens: words, numbers in digits, clock times ("7:30") and arithmetic symbols."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 -> 1000
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # twenty-one -> twenty one
    text = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", text)  # a.m. -> am
    text = text.replace("o'clock", "oclock")
    return _TOKEN.findall(text)


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def take_number(ws: list[str], i: int, ordinals: bool = True) -> tuple[int | float, int, bool] | None:
    """The longest number starting at ws[i]: (value, index after it, whether it was an ordinal), or None.

    "twenty one" is one number, "one two" is two ("one" then "two"), as a listener would hear them.
    With ordinals=False, "second" is not a number (durations use it as the unit)."""
    n = len(ws)
    if i >= n:
        return None
    m = _DIGITS.fullmatch(ws[i])
    if m:
        value: float = float(m.group(1))
        j = i + 1
        if m.group(2):
            return _num(value), j, True
        if j < n and ws[j] in SCALES:
            value *= SCALES[ws[j]]
            j += 1
        elif j < n and ws[j] == "hundred":
            value *= 100
            j += 1
        return _num(value), j, False
    if ws[i].startswith(".") and ws[i][1:].isdigit():
        return _num(float(ws[i])), i + 1, False

    total = 0  # the thousands, millions already closed
    group: int | None = None  # the number below a thousand being read
    last = None  # what the previous word was: unit, teen, ten, hundred, scale
    j = i
    ordinal = False
    while j < n:
        w = ws[j]
        nxt = ws[j + 1] if j + 1 < n else ""
        if w in ("a", "an") and group is None and total == 0 and nxt in ("hundred", *SCALES):
            group, last = 1, "unit"
        elif w == "and" and last in ("hundred", "scale") and (
                nxt in UNITS or nxt in TEENS or nxt in TENS or (ordinals and (
                    nxt in ORDINAL_UNITS or nxt in ORDINAL_TEENS or nxt in ORDINAL_TENS))):
            pass
        elif w in UNITS and last in (None, "ten", "hundred", "scale"):
            group, last = (group or 0) + UNITS[w], "unit"
        elif w in TEENS and last in (None, "hundred", "scale"):
            group, last = (group or 0) + TEENS[w], "teen"
        elif w in TENS and last in (None, "hundred", "scale"):
            group, last = (group or 0) + TENS[w], "ten"
        elif w == "hundred" and last in ("unit", "teen", "ten") and group is not None and group < 100:
            group, last = group * 100, "hundred"
        elif w in SCALES and last in ("unit", "teen", "ten", "hundred") and group is not None:
            total, group, last = total + group * SCALES[w], None, "scale"
        elif ordinals and w in ORDINAL_UNITS and last in (None, "ten", "hundred", "scale"):
            group, ordinal = (group or 0) + ORDINAL_UNITS[w], True
            j += 1
            break
        elif ordinals and (w in ORDINAL_TEENS or w in ORDINAL_TENS) and last in (None, "hundred", "scale"):
            group, ordinal = (group or 0) + ORDINAL_TEENS.get(w, ORDINAL_TENS.get(w, 0)), True
            j += 1
            break
        elif ordinals and w in ("hundredth", "thousandth") and group is not None and last != "scale":
            group, ordinal = group * (100 if w == "hundredth" else 1000), True
            j += 1
            break
        else:
            break
        j += 1
    if last is None and not ordinal:
        return None
    if ws[j - 1] == "and":  # "a hundred and" with nothing after: the "and" is not ours
        j -= 1
    value = total + (group or 0)
    if not ordinal and j + 1 < n and ws[j] == "point" and (ws[j + 1] in UNITS or ws[j + 1] == "oh"):
        digits = ""
        j += 1
        while j < n and (ws[j] in UNITS or ws[j] == "oh"):
            digits += str(UNITS.get(ws[j], 0))
            j += 1
        return _num(float(f"{value}.{digits}")), j, False
    return value, j, ordinal


def parse_number(text: str) -> int | float | None:
    """The number a whole phrase says ("forty two", "2.5", "minus three"), or None if it says more."""
    ws = [w for w in words(text) if w not in ("about", "around", "roughly")]
    sign = 1
    if ws and ws[0] in ("minus", "negative", "-"):
        sign, ws = -1, ws[1:]
    got = take_number(ws, 0, ordinals=False)
    if got is None or got[1] != len(ws):
        return None
    return sign * got[0]


# ---- durations ------------------------------------------------------------------------------

DURATION_UNITS = {"second": 1, "seconds": 1, "sec": 1, "secs": 1, "minute": 60, "minutes": 60, "min": 60,
                  "mins": 60, "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "day": 86400,
                  "days": 86400, "week": 604800, "weeks": 604800}
_FRACTIONS = {"half": 0.5, "quarter": 0.25}


def parse_duration(text: str) -> float | None:
    """Seconds in "five minutes", "an hour and a half", "ninety seconds", "2 minutes 30 seconds",
    "half an hour", "three quarters of an hour"; None when no unit is said ("five" alone)."""
    ws = words(text)
    total = 0.0
    found = False
    pending: float | None = None  # a number waiting for its unit
    last_unit: int | None = None
    i = 0
    while i < len(ws):
        w = ws[i]
        if w in _FRACTIONS or (w == "quarters" and pending is not None):
            frac = _FRACTIONS.get(w, 0.25 * (pending or 0))
            if w == "quarters":
                pending = None
            j = i + 1
            while j < len(ws) and ws[j] in ("a", "an", "of", "the"):
                j += 1
            if j < len(ws) and ws[j] in DURATION_UNITS:  # half an hour, quarter of an hour
                total += frac * DURATION_UNITS[ws[j]]
                last_unit, found, i = DURATION_UNITS[ws[j]], True, j + 1
                continue
            if last_unit is not None:  # an hour and a half
                total += frac * last_unit
                found = True
            i += 1
            continue
        got = take_number(ws, i, ordinals=False)
        if got is not None:
            value, i, _ = got
            if ws[i:i + 3] == ["and", "a", "half"]:  # one and a half hours
                value, i = value + 0.5, i + 3
            elif ws[i:i + 3] == ["and", "a", "quarter"]:
                value, i = value + 0.25, i + 3
            if pending is not None and last_unit is None:
                return None  # two bare numbers: not a duration
            pending = float(value)
            continue
        if w in DURATION_UNITS:
            unit = DURATION_UNITS[w]
            total += (pending if pending is not None else 1.0) * unit
            pending, last_unit, found = None, unit, True
        i += 1
    if pending is not None:
        if last_unit in (60, 3600):  # "2 minutes 30": the next smaller unit
            total += pending * last_unit / 60
        else:
            return None
    return total if found else None


# ---- times of day ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TimeOfDay:
    """A clock time; `certain` is False when the speaker did not say morning or evening ("six")."""

    hour: int  # 0..23 (for an uncertain time, the morning reading 1..12)
    minute: int

    certain: bool = True

    def readings(self) -> list[tuple[int, int]]:
        """The (hour, minute) pairs this may mean: one, or the morning and the evening reading."""
        if self.certain:
            return [(self.hour, self.minute)]
        return [(self.hour % 12, self.minute), (self.hour % 12 + 12, self.minute)]


_MORNING = (("in", "the", "morning"), ("am",), ("this", "morning"))
_EVENING = (("in", "the", "afternoon"), ("in", "the", "evening"), ("at", "night"), ("pm",), ("tonight",),
            ("this", "evening"), ("this", "afternoon"))
_FILLER = {"at", "for", "the", "oclock", "sharp", "around", "about", "by", "on", "o'clock"}


def _strip_phrase(ws: list[str], phrases: tuple[tuple[str, ...], ...]) -> bool:
    for phrase in phrases:
        for k in range(len(ws) - len(phrase) + 1):
            if tuple(ws[k:k + len(phrase)]) == phrase:
                del ws[k:k + len(phrase)]
                return True
    return False


def _minutes(ws: list[str]) -> int | None:
    """Minutes past the hour: "thirty", "oh five", "05", "" (none said)."""
    if not ws:
        return 0
    if ws[0] in ("oh", "o") and len(ws) > 1:
        ws = ws[1:]
    got = take_number(ws, 0, ordinals=False)
    if got is None or got[1] != len(ws) or not float(got[0]).is_integer():
        return None
    return int(got[0])


def parse_time_of_day(text: str) -> TimeOfDay | None:
    """A clock time: "seven thirty am", "five pm", "noon", "half past six", "six", "quarter to eight",
    "19:45", "ten past nine in the evening"; None when it is not one."""
    ws = words(text)
    morning = _strip_phrase(ws, _MORNING)
    evening = not morning and _strip_phrase(ws, _EVENING)
    ws = [w for w in ws if w not in _FILLER]
    if ws in (["noon"], ["midday"], ["twelve", "noon"]):
        return TimeOfDay(12, 0)
    if ws in (["midnight"], ["twelve", "midnight"]):
        return TimeOfDay(0, 0)
    hour: int | None = None
    minute: int | None = None
    if len(ws) == 1 and re.fullmatch(r"\d{1,2}:\d\d", ws[0]):
        hour, minute = (int(x) for x in ws[0].split(":"))
    elif len(ws) == 1 and re.fullmatch(r"\d{3,4}", ws[0]):  # 730, 1930
        hour, minute = divmod(int(ws[0]), 100)
    else:
        for k, w in enumerate(ws):
            if w in ("past", "after", "to", "before", "till", "til"):
                left = [x for x in ws[:k] if x not in ("a", "minutes", "minute", "mins")]
                if left in (["half"], ["quarter"]):
                    mins: int | None = 30 if left == ["half"] else 15
                else:
                    mins = _minutes(left) if left else None
                got = take_number(ws, k + 1, ordinals=False)
                if mins is None or got is None or got[1] != len(ws) or not 0 < mins < 60:
                    return None
                hour = int(got[0])
                if w in ("past", "after"):
                    minute = mins
                else:
                    hour, minute = hour - 1, 60 - mins
                    if hour < 0 or (hour == 0 and not (morning or evening)):
                        hour += 12
                break
        else:
            got = take_number(ws, 0, ordinals=False)
            if got is None or not float(got[0]).is_integer():
                return None
            hour = int(got[0])
            minute = _minutes(ws[got[1]:])
    if hour is None or minute is None or not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    if morning or evening:
        if not 1 <= hour <= 12:
            return TimeOfDay(hour, minute) if hour > 12 and evening else None
        return TimeOfDay(hour % 12 + (12 if evening else 0), minute)
    if hour == 0 or hour > 12:
        return TimeOfDay(hour, minute)
    return TimeOfDay(hour, minute, certain=False)


# ---- back to words --------------------------------------------------------------------------

def format_number(value: float) -> str:
    """A result as a person would say it: 68, 8.05, 0.333, 1,250,000."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {value}")
    if abs(value) >= 1e15:
        return f"{value:.3g}"
    rounded = round(value, 2)
    if abs(value) < 1 and value != 0 and abs(rounded) < 0.1:  # small numbers keep three significant digits
        return f"{value:.3g}"
    if float(rounded).is_integer():
        return f"{int(rounded):,}"
    return f"{rounded:,.2f}".rstrip("0").rstrip(".")


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def format_duration(seconds: float, adjective: bool = False) -> str:
    """ "5 minutes", "1 hour and 30 minutes", "45 seconds"; adjective=True: "5 minute" (a 5 minute timer).

    Seconds are dropped once hours are said, as a person would."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    if not days and not hours:
        parts.append((secs, "second"))
    said = [(n, unit) for n, unit in parts if n]
    if not said:
        said = [(0, "second")]
    if adjective:
        return " ".join(f"{n} {unit}" for n, unit in said)
    texts = [_plural(n, unit) for n, unit in said]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


def format_clock(hour: int, minute: int) -> str:
    """12-hour clock: "8:42 PM", "12:05 AM"."""
    return f"{(hour % 12) or 12}:{minute:02d} {'AM' if hour < 12 else 'PM'}"
