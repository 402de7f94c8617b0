"""What the user told about themself, per owner: name, home, job, age, birthday, favourite things.

Only what the user said is ever said back; an unknown fact is answered "You haven't told me ... yet."
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from .base import Env, SkillContext, SkillResult
from .dates import format_date, parse_date
from .numbers import parse_number

__all__ = ["HANDLERS", "DESCRIPTION", "fact_name"]

log = logging.getLogger(__name__)

DESCRIPTION = "remember your name, where you live, your job, age, birthday and favourite things"
_ALIASES = {
    "name": "name", "my name": "name", "called": "name", "first name": "name", "who i am": "name",
    "home": "home", "live": "home", "i live": "home", "where i live": "home", "city": "home", "town": "home",
    "hometown": "home", "home town": "home", "address": "home", "from": "home", "where i'm from": "home",
    "job": "job", "work": "job", "occupation": "job", "profession": "job", "what i do": "job",
    "age": "age", "old": "age", "how old i am": "age", "how old": "age",
    "birthday": "birthday", "born": "birthday", "date of birth": "birthday", "birth date": "birthday",
}
_ALL = {"all", "everything", "me", "about me", "what you know", "what you know about me"}
# how each known fact is said back, and how its absence is
_SAY = {
    "name": ("Your name is {v}.", "your name"),
    "home": ("You told me you live in {v}.", "where you live"),
    "job": ("You told me you work as {a}.", "what you do for a living"),
    "age": ("You told me you're {v}.", "how old you are"),
    "birthday": ("You told me your birthday is {v}.", "your birthday"),
}
_ACK = {
    "name": "Nice to meet you, {v}.",
    "home": "Got it, you live in {v}.",
    "job": "Got it, you work as {a}.",
    "age": "Got it, you're {v}.",
    "birthday": "Got it, your birthday is {v}.",
}


def fact_name(text: str) -> str:
    """The stored name of a fact: "my name" -> "name", "favorite color" -> "favourite colour"."""
    key = " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())
    key = re.sub(r"^(my|the|your|what's my|what is my|what)\s+", "", key)
    key = key.replace("favorite", "favourite").replace("color", "colour")
    key = re.sub(r"^fav\b", "favourite", key)
    return _ALIASES.get(key, key)


def _article(value: str) -> str:
    if re.match(r"^(a|an|the|my)\s", value, re.I):
        return value
    return f"{'an' if value[:1].lower() in 'aeiou' else 'a'} {value}"


def _value(fact: str, value: str, today: dt.date) -> str:
    """The value as it is stored and said: names capitalised, ages as digits, birthdays as dates."""
    value = " ".join(value.split()).strip(" .")
    value = re.sub(r"^(is|am|in|a resident of|at|from|called|named)\s+", "", value, flags=re.I)
    if fact in ("name", "home"):
        return " ".join(w if w.isupper() else w[:1].upper() + w[1:] for w in value.split())
    if fact == "age":
        value = re.sub(r"\s*(years?|old|years old|yrs)$", "", value).strip()
        number = parse_number(re.sub(r"\b(years?|old)\b", "", value))
        return str(int(number)) if number is not None and float(number).is_integer() else value
    if fact == "birthday":
        spoken = parse_date(value, today)
        if spoken is not None and not spoken.relative:
            return format_date(spoken.date, weekday=False, year=bool(re.search(r"\d{4}", value)))
        return value
    if fact == "job":
        return re.sub(r"^(as|work as|i'm|a job as)\s+", "", value, flags=re.I)
    return value


def set_fact(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    fact = fact_name(args.get("fact") or "")
    raw = args.get("value") or ""
    if not fact:
        return SkillResult("What should I remember?")
    if not raw.strip():
        return SkillResult(f"What is your {fact}?")
    value = _value(fact, raw, env.now().date())
    now = dt.datetime.fromtimestamp(env.clock(), dt.timezone.utc).isoformat()
    with env.memory.transaction() as db:
        db.execute("INSERT INTO user_facts (owner, fact, value, updated_at) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (owner, fact) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                   [ctx.owner, fact, value, now])
    log.info("remembered %s of %s", fact, ctx.owner)
    template = _ACK.get(fact, "I'll remember that your {f} is {v}.")
    return SkillResult(template.format(v=value, a=_article(value), f=fact),
                       [{"type": "user.fact", "fact": fact}])


def _known(env: Env, owner: str) -> dict[str, str]:
    rows = env.memory.query("SELECT fact, value FROM user_facts WHERE owner = ? ORDER BY updated_at", [owner])
    order = list(_SAY)  # the common facts first, in a fixed order; the others as they were told
    rows.sort(key=lambda row: order.index(row["fact"]) if row["fact"] in order else len(order))
    return {row["fact"]: row["value"] for row in rows}


def get_fact(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    raw = (args.get("fact") or "").strip().lower()
    known = _known(env, ctx.owner)
    if raw in _ALL:
        if not known:
            return SkillResult("You haven't told me anything about yourself yet.")
        said = [_SAY.get(f, ("You told me your {f} is {v}.", ""))[0].format(v=v, a=_article(v), f=f)
                for f, v in known.items()]
        return SkillResult(" ".join(said))
    fact = fact_name(raw)
    if not fact:
        return SkillResult("What would you like me to remind you of?")
    template, missing = _SAY.get(fact, ("You told me your {f} is {v}.", f"your {fact}"))
    if fact not in known:
        return SkillResult(f"You haven't told me {missing} yet.")
    value = known[fact]
    return SkillResult(template.format(v=value, a=_article(value), f=fact))


HANDLERS = {"user.set": set_fact, "user.get": get_fact}
