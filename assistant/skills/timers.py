"""Timers, alarms and reminders (alarms with a label), kept in SQLite so that they survive a restart.

A row goes: set (created_at, due_at) -> fired (fired_at, when `due` hands it out) -> delivered
(delivered_at, once the user was told), or cancelled (cancelled_at) before it fires.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from typing import Any

from dialogue.actions import Action

from .base import Env, FiredTimer, SkillContext, SkillResult
from .dates import day_part, format_date, parse_date
from .numbers import format_clock, format_duration, parse_duration, parse_time_of_day, words

__all__ = ["HANDLERS", "DESCRIPTION", "due", "undelivered", "mark_delivered", "fired_event"]

log = logging.getLogger(__name__)

DESCRIPTION = "set timers, alarms and reminders, say how long is left, and cancel them"
MAX_TIMER = 24 * 3600  # longer waits are alarms
_ALL = {"all", "all of them", "all timers", "all the timers", "all my timers", "all alarms", "all the alarms",
        "all my alarms", "every", "everything", "both", "both of them", "every timer", "every alarm"}
_ACTIVE = "fired_at IS NULL AND cancelled_at IS NULL"


# ---- reading and writing rows ---------------------------------------------------------------

def _active(env: Env, owner: str, kind: str) -> list[dict[str, Any]]:
    return env.memory.query(
        f"SELECT * FROM timers WHERE owner = ? AND kind = ? AND {_ACTIVE} ORDER BY due_at, id", [owner, kind])


def _insert(env: Env, ctx: SkillContext, kind: str, label: str | None, duration: float | None,
            due_at: float) -> int:
    with env.memory.transaction() as db:
        cursor = db.execute(
            "INSERT INTO timers (conversation_id, owner, kind, label, duration, created_at, due_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [ctx.conversation_id, ctx.owner, kind, label, duration, env.clock(), due_at])
        timer_id = int(cursor.lastrowid)
    log.info("%s %d set for %s", kind, timer_id, env.local(due_at).isoformat())
    return timer_id


def _cancel(env: Env, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with env.memory.transaction() as db:
        for row in rows:
            db.execute(f"UPDATE timers SET cancelled_at = ? WHERE id = ? AND {_ACTIVE}", [env.clock(), row["id"]])
    return [{"type": f"{row['kind']}.cancelled", "timer_id": row["id"]} for row in rows]


def _fired(row: dict[str, Any]) -> FiredTimer:
    return FiredTimer(id=row["id"], conversation_id=row["conversation_id"], owner=row["owner"], kind=row["kind"],
                      label=row["label"], duration=row["duration"], due_at=row["due_at"], fired_at=row["fired_at"])


def due(env: Env, now: float | None = None) -> list[FiredTimer]:
    """Timers and alarms whose time has come, marked fired in the same transaction (so each fires once)."""
    now = env.clock() if now is None else float(now)
    with env.memory.transaction() as db:
        rows = [dict(r) for r in db.query(
            f"SELECT * FROM timers WHERE {_ACTIVE} AND due_at <= ? ORDER BY due_at, id", [now])]
        for row in rows:
            db.execute("UPDATE timers SET fired_at = ? WHERE id = ?", [now, row["id"]])
            row["fired_at"] = now
    return [_fired(row) for row in rows]


def undelivered(env: Env, conversation_id: str) -> list[FiredTimer]:
    rows = env.memory.query(
        "SELECT * FROM timers WHERE conversation_id = ? AND fired_at IS NOT NULL AND delivered_at IS NULL "
        "AND cancelled_at IS NULL ORDER BY due_at, id", [conversation_id])
    return [_fired(row) for row in rows]


def mark_delivered(env: Env, timer_id: int) -> None:
    if not isinstance(timer_id, int) or isinstance(timer_id, bool):
        raise ValueError(f"timer_id must be an int, got {timer_id!r}")
    with env.memory.transaction() as db:
        if db.execute("SELECT 1 FROM timers WHERE id = ?", [timer_id]).fetchone() is None:
            raise ValueError(f"no timer with id {timer_id}")
        db.execute("UPDATE timers SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
                   [env.clock(), timer_id])


# ---- saying them ----------------------------------------------------------------------------

def _yours(text: str) -> str:
    """ "call my mom" -> "call your mom": a reminder is said back to the person."""
    swap = {"my": "your", "me": "you", "i": "you", "myself": "yourself", "mine": "yours", "i'm": "you're"}
    return " ".join(swap.get(w.lower(), w) for w in text.split())


def _timer_name(row: dict[str, Any] | FiredTimer) -> str:
    label = row["label"] if isinstance(row, dict) else row.label
    duration = row["duration"] if isinstance(row, dict) else row.duration
    return f"{label} timer" if label else f"{format_duration(duration or 0, adjective=True)} timer"


def _day(env: Env, when: dt.datetime) -> str:
    today = env.now().date()
    days = (when.date() - today).days
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if 1 < days < 7:
        return f"on {when:%A}"
    return f"on {format_date(when.date(), weekday=False, year=when.year != today.year)}"


def _alarm_name(env: Env, row: dict[str, Any]) -> str:
    when = env.local(row["due_at"])
    text = f"{format_clock(when.hour, when.minute)} {_day(env, when)}"
    return f"{text}, to {_yours(row['label'])}" if row["label"] else text


def _left(env: Env, row: dict[str, Any]) -> str:
    return format_duration(math.ceil(max(0.0, row["due_at"] - env.clock())))


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def fired_event(env: Env, fired: FiredTimer, late: bool) -> dict[str, Any]:
    when = env.local(fired.due_at)
    clock = format_clock(when.hour, when.minute)
    if fired.kind == "timer":
        text = f"Your {_timer_name(fired)} finished at {clock}." if late else f"Your {_timer_name(fired)} is done."
    elif fired.label:
        text = f"Reminder from {clock}: {_yours(fired.label)}." if late else f"Reminder: {_yours(fired.label)}."
    else:
        text = f"Your {clock} alarm went off while you were away." if late else f"It's {clock}: your alarm."
    return {"type": "timer.fired", "timer_id": fired.id, "kind": fired.kind, "label": fired.label,
            "due_at": when.isoformat(), "late": bool(late), "text": text}


# ---- timers ---------------------------------------------------------------------------------

def _label(text: str | None) -> str | None:
    if not text:
        return None
    ws = [w for w in words(text) if w not in ("the", "a", "an", "my", "timer", "for")]
    return " ".join(ws) or None


def timer_set(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    label = _label(args.get("label"))
    if not args.get("duration"):
        return SkillResult(f"How long should the {label + ' ' if label else ''}timer be?")
    seconds = parse_duration(args["duration"])
    if seconds is None:
        return SkillResult(f"Sorry, I didn't catch how long: \"{args['duration']}\". How long should the timer be?")
    if seconds < 1:
        return SkillResult("How long should the timer be?")
    if seconds > MAX_TIMER:
        return SkillResult("I can set timers of up to 24 hours. For longer, ask me for an alarm.")
    due_at = env.clock() + seconds
    timer_id = _insert(env, ctx, "timer", label, seconds, due_at)
    name = f"{label[:1].upper()}{label[1:]} timer" if label else "Timer"
    event = {"type": "timer.set", "timer_id": timer_id, "kind": "timer", "label": label,
             "due_at": env.local(due_at).isoformat(), "duration": seconds}
    return SkillResult(f"{name} set for {format_duration(seconds)}.", [event])


def timer_list(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    rows = _active(env, ctx.owner, "timer")
    if not rows:
        return SkillResult("You have no timers running.")
    items = [f"the {_timer_name(r)}, with {_left(env, r)} left" for r in rows]
    count = "one timer" if len(rows) == 1 else f"{len(rows)} timers"
    return SkillResult(f"You have {count}: {'; '.join(items)}.")


def _matching(rows: list[dict[str, Any]], which: str) -> list[dict[str, Any]]:
    """The timers a phrase names: by label words, or by the duration they were set for."""
    if which.startswith("#"):  # the form a confirmation question stores: one exact id
        return [r for r in rows if str(r["id"]) == which[1:].strip()]
    said = set(words(which)) - {"the", "a", "my", "timer", "timers", "alarm", "one", "for"}
    by_label = [r for r in rows if r["label"] and said and said <= set(words(r["label"]))]
    if by_label:
        return by_label
    seconds = parse_duration(which) or parse_duration(which + " minutes")  # "the five" said of minute timers
    if seconds:
        return [r for r in rows if r["duration"] and abs(r["duration"] - seconds) < 0.5]
    return []


def timer_left(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    rows = _active(env, ctx.owner, "timer")
    if not rows:
        return SkillResult("You have no timers running.")
    if args.get("label"):
        rows = _matching(rows, args["label"])
        if not rows:
            name = _label(args["label"]) or args["label"]
            return SkillResult(f"You don't have {'an' if name[:1] in 'aeiou' else 'a'} {name} timer running.")
    if len(rows) == 1:
        return SkillResult(f"There's {_left(env, rows[0])} left on your {_timer_name(rows[0])}.")
    items = [f"your {_timer_name(r)} has {_left(env, r)} left" for r in rows]
    text = _join(items)
    return SkillResult(text[:1].upper() + text[1:] + ".")


def timer_cancel(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    rows = _active(env, ctx.owner, "timer")
    which = (args.get("which") or "").strip().lower()
    if not rows:
        return SkillResult("You have no timers to cancel." if not which.startswith("#")
                           else "That timer isn't running any more.")
    if which in _ALL:
        events = _cancel(env, rows)
        text = f"Cancelled your {_timer_name(rows[0])}." if len(rows) == 1 else f"Cancelled your {len(rows)} timers."
        return SkillResult(text, events)
    if which:
        matches = _matching(rows, which)
        if not matches:
            if which.startswith("#"):
                return SkillResult("That timer isn't running any more.")
            name = _label(which) or which
            return SkillResult(f"You don't have {'an' if name[:1] in 'aeiou' else 'a'} {name} timer running.")
    else:
        matches = rows
    if len(matches) == 1:
        return SkillResult(f"Cancelled your {_timer_name(matches[0])}.", _cancel(env, matches))
    newest = max(matches, key=lambda r: (r["created_at"], r["id"]))  # the one most likely meant
    return SkillResult(f"You have {len(matches)} timers. Shall I cancel the {_timer_name(newest)}?",
                       pending=Action("timer.cancel", {"which": f"#{newest['id']}"}))


# ---- alarms ---------------------------------------------------------------------------------

def _local(env: Env, day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=env.zone)


def _alarm_due(env: Env, time_text: str, date_text: str | None) -> float | str:
    """The epoch the alarm is for, or what to ask the user when the words do not say one."""
    now = env.now()
    relative = parse_duration(time_text)
    tod = parse_time_of_day(time_text)
    if tod is None and relative:  # "in ten minutes"
        return env.clock() + relative
    if tod is None:
        return f"Sorry, I didn't catch the time \"{time_text.strip()}\". What time should it be?"
    part = day_part(date_text)
    if not tod.certain and part:  # "six" "tomorrow morning": the date's part of the day settles am or pm
        tod = parse_time_of_day(f"{time_text} {'at night' if part == 'night' else 'in the ' + part}") or tod
    if date_text:
        spoken = parse_date(date_text, now.date())
        if spoken is None:
            return f"Sorry, I didn't catch the day \"{date_text.strip()}\". Which day should it be?"
        days = [spoken.date]
        if not spoken.relative and spoken.name == f"{spoken.date:%A}":  # "friday" at a passed hour: next week
            days.append(spoken.date + dt.timedelta(days=7))
    else:
        days = [now.date(), now.date() + dt.timedelta(days=1)]
    times = sorted(_local(env, day, h, m) for day in days for h, m in tod.readings())
    future = [t for t in times if t > now]
    if not future:
        return "That time has already passed. When should it be?"
    return future[0].timestamp()


def alarm_set(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    label = (args.get("label") or "").strip()
    label = re.sub(r"^(to|that|about)\s+", "", label, flags=re.I) or None
    if not args.get("time"):
        if label:
            return SkillResult(f"When should I remind you to {_yours(label)}?")
        return SkillResult("What time should I set the alarm for?")
    due_at = _alarm_due(env, args["time"], args.get("date"))
    if isinstance(due_at, str):
        return SkillResult(due_at)
    timer_id = _insert(env, ctx, "alarm", label, None, due_at)
    when = env.local(due_at)
    said = f"{format_clock(when.hour, when.minute)} {_day(env, when)}"
    if label:
        text = f"I'll remind you to {_yours(label)} at {said}."
    else:
        text = f"Alarm set for {said}."
    event = {"type": "timer.set", "timer_id": timer_id, "kind": "alarm", "label": label,
             "due_at": when.isoformat()}
    return SkillResult(text, [event])


def alarm_list(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    rows = _active(env, ctx.owner, "alarm")
    if not rows:
        return SkillResult("You have no alarms or reminders set.")
    reminders = sum(1 for r in rows if r["label"])
    counts = [f"{n} {word}{'s' if n > 1 else ''}" for n, word in
              ((len(rows) - reminders, "alarm"), (reminders, "reminder")) if n]
    return SkillResult(f"You have {' and '.join(counts)}: {'; '.join(_alarm_name(env, r) for r in rows)}.")


def alarm_cancel(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    rows = _active(env, ctx.owner, "alarm")
    time_text = (args.get("time") or "").strip().lower()
    if not rows:
        return SkillResult("You have no alarms to cancel.")
    if time_text in _ALL:
        events = _cancel(env, rows)
        return SkillResult("Cancelled your alarm." if len(rows) == 1 else f"Cancelled your {len(rows)} alarms.",
                           events)
    matches = rows
    if time_text.startswith("#"):
        matches = [r for r in rows if str(r["id"]) == time_text[1:].strip()]
        if not matches:
            return SkillResult("That alarm isn't set any more.")
    elif time_text:
        tod = parse_time_of_day(time_text)
        if tod is None:
            return SkillResult(f"Sorry, I didn't catch the time \"{time_text}\".")
        readings = set(tod.readings())
        matches = [r for r in matches if (env.local(r["due_at"]).hour, env.local(r["due_at"]).minute) in readings]
    if args.get("date"):
        spoken = parse_date(args["date"], env.now().date())
        if spoken is not None:
            matches = [r for r in matches if env.local(r["due_at"]).date() == spoken.date]
    if not matches:
        return SkillResult("I couldn't find an alarm at that time.")
    if len(matches) == 1:
        return SkillResult(f"Cancelled your alarm for {_alarm_name(env, matches[0])}.", _cancel(env, matches))
    first = matches[0]
    return SkillResult(f"You have {len(matches)} alarms. Shall I cancel the one for {_alarm_name(env, first)}?",
                       pending=Action("alarm.cancel", {"time": f"#{first['id']}"}))


HANDLERS = {"timer.set": timer_set, "timer.list": timer_list, "timer.left": timer_left,
            "timer.cancel": timer_cancel, "alarm.set": alarm_set, "alarm.list": alarm_list,
            "alarm.cancel": alarm_cancel}
