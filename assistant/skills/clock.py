"""Clock and calendar: the time (here or in a place), today's date, the weekday of a date, days until one."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .base import Env, SkillContext, SkillResult
from .dates import SpokenDate, format_date, parse_date
from .numbers import format_clock
from .places import find_place

__all__ = ["HANDLERS", "DESCRIPTION"]

DESCRIPTION = "tell the time and the date, here or in another city, and count the days until a date"
_MONTH_WORDS = {f"{dt.date(2000, m, 1):%B}" for m in range(1, 13)}


def _unknown_place(place: str) -> SkillResult:
    return SkillResult(f"I don't know the time zone of {place.strip()}.")


def time(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    place = args.get("place")
    if not place:
        now = env.now()
        return SkillResult(f"It's {format_clock(now.hour, now.minute)}.")
    found = find_place(place)
    if found is None:
        return _unknown_place(place)
    there = dt.datetime.fromtimestamp(env.clock(), found.zone)
    here = env.now()
    text = f"It's {format_clock(there.hour, there.minute)} in {found.name}"
    if there.date() != here.date():  # say the day when it differs from the user's
        text += f", where it's {'already' if there.date() > here.date() else 'still'} {there:%A}"
    text += "."
    if found.note:
        text += f" ({found.note}.)"
    return SkillResult(text)


def date(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    place = args.get("place")
    if not place:
        return SkillResult(f"Today is {format_date(env.now().date())}.")
    found = find_place(place)
    if found is None:
        return _unknown_place(place)
    there = dt.datetime.fromtimestamp(env.clock(), found.zone)
    return SkillResult(f"In {found.name} it's {format_date(there.date())}.")


def _date_or_question(env: Env, text: str) -> SpokenDate | SkillResult:
    found = parse_date(text, env.now().date())
    if found is None:
        return SkillResult(f"Sorry, I didn't catch which date you mean by \"{text.strip()}\".")
    return found


def weekday(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    today = env.now().date()
    text = args.get("date")
    if not text:
        return SkillResult(f"Today is {today:%A}.")
    found = _date_or_question(env, text)
    if isinstance(found, SkillResult):
        return found
    day = found.date
    if found.relative:
        verb = "was" if day < today else "is"
        return SkillResult(f"{found.name.capitalize()} {verb} {day:%A}.")
    if found.name == f"{day:%A}":  # "friday": its weekday is its name; say its date instead
        return SkillResult(f"{found.name} is {format_date(day, weekday=False, year=day.year != today.year)}.")
    verb = "was" if day < today else "is"
    if found.name[:1].isdigit() or found.name.split()[0] in _MONTH_WORDS:  # a calendar date
        return SkillResult(f"{format_date(day, weekday=False)} {verb} a {day:%A}.")
    return SkillResult(f"{found.name}, {format_date(day, weekday=False)}, {verb} a {day:%A}.")



def until(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    text = args.get("date")
    if not text:
        return SkillResult("Until which date?")
    found = _date_or_question(env, text)
    if isinstance(found, SkillResult):
        return found
    days = (found.date - env.now().date()).days
    name = found.name[:1].upper() + found.name[1:]
    if days == 0:
        return SkillResult(f"{name} is today!")
    if days == 1:
        return SkillResult(f"{name} is tomorrow.")
    if days < 0:
        return SkillResult(f"{name} was {-days} days ago.")
    return SkillResult(f"{name} is in {days} days.")


HANDLERS = {"clock.time": time, "clock.date": date, "clock.weekday": weekday, "clock.until": until}
