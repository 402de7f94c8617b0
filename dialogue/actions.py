"""Action markup: how the reply model asks the assistant to act instead of stating a fact.

A reply is either plain text (chat) or one action:

    <timer.set> <duration> five minutes <label> pasta
    <clock.time> <place> tokyo
    <calc> <expr> seventeen times four
    <conv.repeat>

The first tag names the action (it has a dot, or is one of the bare action names); each later tag names
an argument, and the words up to the next tag are its value, copied from the user's words. Every tag is
one symbol of the tokenizer (``ACTION_SYMBOLS``), and values are plain words separated by spaces, so a
value is tokenized exactly as the same words in the request: the model copies, it does not spell.

The dialogue package owns this grammar because the model writes it; it does not know the skills that
carry the actions out (``assistant.skills`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["ACTIONS", "ARGUMENTS", "ACTION_SYMBOLS", "COPIED_ARGUMENTS", "Action", "format_action", "parse_action",
           "is_action", "ground_action"]

# action name -> (required arguments, optional arguments)
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "clock.time": ((), ("place",)),  # the time now (in a place)
    "clock.date": ((), ("place",)),  # today's date (in a place)
    "clock.weekday": ((), ("date",)),  # the weekday of today or of a date ("christmas", "march fifth")
    "clock.until": (("date",), ()),  # days until a date
    "timer.set": ((), ("duration", "label")),  # no duration: the skill asks for one
    "timer.list": ((), ()),
    "timer.left": ((), ("label",)),  # how long is left
    "timer.cancel": ((), ("which",)),  # which: "all", "the five minute", a label
    "alarm.set": ((), ("time", "date", "label")),  # reminders are alarms with a label
    "alarm.list": ((), ()),
    "alarm.cancel": ((), ("time", "date")),
    "calc": ((), ("expr",)),  # arithmetic and unit conversion from spoken words
    "list.add": ((), ("item", "list")),
    "list.remove": ((), ("item", "list")),
    "list.read": ((), ("list",)),
    "list.clear": ((), ("list",)),
    "user.set": (("fact", "value"), ()),  # "my name is anna" -> fact name, value anna
    "user.get": (("fact",), ()),  # "what is my name" -> fact name
    "conv.repeat": ((), ()),  # say the last reply again
    "conv.recall": ((), ()),  # "what did i just say"
    "conv.stop": ((), ()),  # stop / never mind
    "conv.yes": ((), ()),  # yes to the assistant's own question
    "conv.no": ((), ()),  # no to it
    "assistant.help": ((), ()),  # what can you do
    "assistant.about": ((), ()),  # who / what are you
    "cannot": (("topic",), ()),  # an honest "I can't do that offline" (weather, news, music, ...)
}

ARGUMENTS: tuple[str, ...] = ("place", "date", "duration", "label", "which", "time", "expr", "item", "list",
                              "fact", "value", "topic")

# arguments whose value is a copy of the user's words; the others take values from a small fixed vocabulary
# (fact: name, home, job, ...; topic: weather, news, ...)
COPIED_ARGUMENTS: frozenset[str] = frozenset(ARGUMENTS) - {"fact", "topic"}

# one tokenizer symbol per tag, so that the model writes a tag in one step
ACTION_SYMBOLS: tuple[str, ...] = tuple(f"<{n}>" for n in ACTIONS) + tuple(f"<{a}>" for a in ARGUMENTS)

_TAG = re.compile(r"<([a-z_.]+)>")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Action:
    """One parsed action: its name and argument values (words as the user said them)."""

    name: str
    args: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return format_action(self.name, self.args)


def format_action(name: str, args: dict[str, str] | None = None) -> str:
    """The markup of an action; arguments in their canonical order, empty values left out."""
    if name not in ACTIONS:
        raise ValueError(f"unknown action {name!r}; valid choices: {sorted(ACTIONS)}")
    required, optional = ACTIONS[name]
    args = dict(args or {})
    unknown = sorted(set(args) - set(required) - set(optional))
    if unknown:
        raise ValueError(f"action {name!r} takes no argument {unknown}; valid: {list(required + optional)}")
    parts = [f"<{name}>"]
    for key in required + optional:
        value = _SPACES.sub(" ", str(args.get(key) or "")).strip()
        if value:
            parts.append(f"<{key}> {value}")
    return " ".join(parts)


def is_action(text: str) -> bool:
    """Whether a reply (or its beginning while it streams) is action markup rather than chat."""
    return text.lstrip().startswith("<")


def parse_action(text: str) -> Action | None:
    """The action in a reply, or None for plain text.

    Lenient with what a model may write: an unknown argument tag or a repeated one keeps the first value,
    and a tag inside the value words is impossible by construction. A reply that starts with a tag that
    is not an action raises ``ValueError`` (the caller answers that it did not understand).
    """
    if not isinstance(text, str):
        raise ValueError(f"reply must be a string, got {type(text).__name__}")
    if not is_action(text):
        return None
    pieces = _TAG.split(text.strip())
    # pieces: ["", tag1, value1, tag2, value2, ...]
    if len(pieces) < 2 or pieces[0].strip() or pieces[1] not in ACTIONS:
        raise ValueError(f"not an action: {text!r}")
    name = pieces[1]
    required, optional = ACTIONS[name]
    allowed = set(required + optional)
    args: dict[str, str] = {}
    for key, value in zip(pieces[3::2], pieces[4::2]):
        value = _SPACES.sub(" ", value).strip()
        if key in allowed and value and key not in args:
            args[key] = value
    return Action(name, args)


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w' ]+", " ", text.lower()).split()


def ground_action(action: Action, request: str, min_similarity: float = 0.6) -> Action:
    """The action with each copied argument replaced by the span of the request's words it was meant to copy.

    The model copies argument words through attention and can slip ("five minute" for "five minutes",
    a dropped or an extra word). Each value of a copied argument is matched against every span of the
    request's words (at most two words longer or shorter) by character similarity; the best span
    replaces it when the similarity is at least ``min_similarity``. A value with no such span (words the
    user did not say: the model made them up) is dropped, so the skill asks for it or uses its default
    instead of acting on an invented value.
    """
    import difflib

    words = _words(request)
    args = {}
    for key, value in action.args.items():
        target = " ".join(_words(value))
        if key not in COPIED_ARGUMENTS or not target or not words or (key == "which" and target == "all"):
            args[key] = value
            continue
        n = len(target.split())
        best, best_score = "", 0.0
        for length in range(max(1, n - 2), n + 3):
            for start in range(0, len(words) - length + 1):
                span = " ".join(words[start:start + length])
                score = difflib.SequenceMatcher(None, target, span, autojunk=False).ratio()
                if score > best_score:
                    best, best_score = span, score
        if best_score >= min_similarity:
            args[key] = best
    return Action(action.name, args)
