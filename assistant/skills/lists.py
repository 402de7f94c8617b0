"""Lists and notes per owner: "add milk to my shopping list", "what's on my list", "clear my to-do list".

With no list named the list is the to-do list; "my shopping list", "groceries" and "shopping" are one list.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from .base import Env, SkillContext, SkillResult

__all__ = ["HANDLERS", "DESCRIPTION", "list_name"]

log = logging.getLogger(__name__)

DESCRIPTION = "keep lists, like your shopping list and your to-do list"
DEFAULT_LIST = "to-do"
_ALIASES = {"shopping": "shopping", "groceries": "shopping", "grocery": "shopping", "grocery shopping": "shopping",
            "to do": "to-do", "todo": "to-do", "to-do": "to-do", "to dos": "to-do", "todos": "to-do",
            "things to do": "to-do", "tasks": "to-do", "task": "to-do", "notes": "notes", "note": "notes"}


def list_name(text: str | None) -> str:
    """The stored name of a spoken list name: "my shopping list" -> "shopping", None -> "to-do"."""
    if not text:
        return DEFAULT_LIST
    name = " ".join(re.sub(r"[^a-z0-9' -]", " ", text.lower()).split())
    name = re.sub(r"^(?:(?:on|to|from|in) (?=my |the |our ))?(?:my |the |our |a )?", "", name)
    name = re.sub(r"\s*\blists?$", "", name).replace("'s", "").strip()  # "the to do list" -> "to do"
    return _ALIASES.get(name, name) or DEFAULT_LIST


def _said(name: str) -> str:
    return f"your {name} list"


def _items(text: str) -> list[str]:
    """ "milk, eggs and bread" -> three items; an item is kept as said, without articles before it."""
    parts = re.split(r",|\band\b|\balso\b", text.lower())
    items = []
    for part in parts:
        part = re.sub(r"^\s*(some|a|an|the|more)\s+", "", part.strip()).strip(" .")
        if part and part not in items:
            items.append(part)
    return items


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _rows(env: Env, owner: str, name: str) -> list[dict[str, Any]]:
    return env.memory.query("SELECT id, item FROM list_items WHERE owner = ? AND list = ? ORDER BY id",
                            [owner, name])


def add(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    name = list_name(args.get("list"))
    items = _items(args.get("item") or "")
    if not items:
        return SkillResult(f"What should I add to {_said(name)}?")
    now = dt.datetime.fromtimestamp(env.clock(), dt.timezone.utc).isoformat()
    with env.memory.transaction() as db:
        have = {row[0] for row in db.execute(
            "SELECT item FROM list_items WHERE owner = ? AND list = ?", [ctx.owner, name]).fetchall()}
        new = [item for item in items if item not in have]
        for item in new:
            db.execute("INSERT INTO list_items (owner, list, item, created_at) VALUES (?, ?, ?, ?)",
                       [ctx.owner, name, item, now])
    if not new:
        verb = "is" if len(items) == 1 else "are"
        return SkillResult(f"{_join(items)[:1].upper()}{_join(items)[1:]} {verb} already on {_said(name)}.")
    log.info("added %d item(s) to list %r of %s", len(new), name, ctx.owner)
    return SkillResult(f"Added {_join(new)} to {_said(name)}.",
                       [{"type": "list.changed", "list": name, "added": new}])


def remove(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    name = list_name(args.get("list"))
    items = _items(args.get("item") or "")
    if not items:
        return SkillResult(f"What should I take off {_said(name)}?")
    with env.memory.transaction() as db:
        removed = [item for item in items if db.execute(
            "DELETE FROM list_items WHERE owner = ? AND list = ? AND item = ?", [ctx.owner, name, item]).rowcount]
    missing = [item for item in items if item not in removed]
    if not removed:
        verb = "isn't" if len(missing) == 1 else "aren't"
        return SkillResult(f"{_join(missing)[:1].upper()}{_join(missing)[1:]} {verb} on {_said(name)}.")
    text = f"Removed {_join(removed)} from {_said(name)}."
    if missing:
        text += f" {_join(missing)[:1].upper()}{_join(missing)[1:]} wasn't on it."
    return SkillResult(text, [{"type": "list.changed", "list": name, "removed": removed}])


def read(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    name = list_name(args.get("list"))
    items = [row["item"] for row in _rows(env, ctx.owner, name)]
    if not items:
        return SkillResult(f"{_said(name).capitalize()} is empty.")
    return SkillResult(f"{_said(name).capitalize()} has {_join(items)}.")


def clear(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    name = list_name(args.get("list"))
    with env.memory.transaction() as db:
        count = db.execute("DELETE FROM list_items WHERE owner = ? AND list = ?", [ctx.owner, name]).rowcount
    if not count:
        return SkillResult(f"{_said(name).capitalize()} is already empty.")
    things = "1 item" if count == 1 else f"{count} items"
    return SkillResult(f"Cleared {_said(name)} ({things}).", [{"type": "list.changed", "list": name, "cleared": count}])


HANDLERS = {"list.add": add, "list.remove": remove, "list.read": read, "list.clear": clear}
