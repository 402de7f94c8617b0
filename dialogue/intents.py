"""Training pairs that teach the reply model to answer requests with action markup (``dialogue.actions``).

Two sources, both split by utterance into train / valid / test:

- HWU64 (Liu et al. 2019, CC BY 4.0): 11,033 real requests to a home assistant in 64 intents, with slot
  annotations. ``read_hwu64`` maps each row to an action whose argument values are word spans of the
  normalised request (``hwu64_target``); rows whose mapping is unreliable are dropped and counted.
- Generated requests (``generated_pairs``) for what HWU64 lacks: timers, arithmetic and unit conversion,
  facts about the user, clocks in cities, days until a date, lists, "what did i just say", help, and a
  few follow-ups that only make sense after the assistant's own question (``context``).

Argument values are always copied words of the normalised request, except the fixed vocabularies
(``FACTS``, ``TOPICS``, ``which`` = "all"). ``speechify`` adds recognizer-like noise to a prompt
without touching the words of any argument, so a target stays a copy.

A pair: {"prompt", "reply", "context": [...], "source": "hwu64/<intent>" | "gen/<skill>", "intent"}
where ``intent`` is the action name of the reply ("chat" for a plain-text reply).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from .actions import format_action, parse_action
from .text import normalize_input

logger = logging.getLogger(__name__)

__all__ = [
    "FACTS", "TOPICS", "SKILL_GROUPS", "skill_group", "number_words", "read_hwu64", "hwu64_target",
    "hwu64_pairs", "generated_pairs", "speechify", "split_by_prompt", "build_action_pairs",
    "value_is_copied", "copy_violations",
]

FACTS = ("name", "home", "job", "age", "birthday")  # plus "favourite <thing>"
TOPICS = ("weather", "news", "music", "email", "shopping", "smart home", "calendar", "transport", "traffic",
          "stocks", "currency", "definitions", "facts", "recipes", "social media", "games", "audiobooks",
          "podcasts", "radio", "volume", "recommendations", "contacts")
FIXED_WHICH = ("all",)

# action name prefix -> skill group (for reports and evaluation)
SKILL_GROUPS = {
    "clock": "clock", "timer": "timers/alarms", "alarm": "timers/alarms", "calc": "arithmetic",
    "list": "lists", "user": "user facts", "conv": "conversation", "assistant": "capabilities/cannot",
    "cannot": "capabilities/cannot",
}


def skill_group(action_name: Optional[str]) -> str:
    """The skill group of an action name; "chat" for a plain-text reply (None)."""
    if not action_name:
        return "chat"
    return SKILL_GROUPS.get(action_name.split(".")[0], "other")


# ------------------------------------------------------------------ copy rule
def _find_span(words: Sequence[str], value_words: Sequence[str]) -> int:
    n = len(value_words)
    if n == 0:
        return -1
    for i in range(len(words) - n + 1):
        if list(words[i:i + n]) == list(value_words):
            return i
    return -1


def value_is_copied(prompt: str, key: str, value: str) -> bool:
    """Whether an argument value obeys the copy rule for ``prompt`` (fixed vocabularies excepted)."""
    if key == "fact" and (value in FACTS or (value.startswith("favourite ") and len(value.split()) >= 2)):
        return True
    if key == "topic" and value in TOPICS:
        return True
    if key == "which" and value in FIXED_WHICH:
        return True
    return _find_span(normalize_input(prompt).split(), normalize_input(value).split()) >= 0


def copy_violations(pair: dict) -> list[str]:
    """Problems of one pair's target: unparsable markup, or a value that is not a copy of the prompt."""
    try:
        action = parse_action(pair["reply"])
    except ValueError as err:
        return [str(err)]
    if action is None:
        return []
    problems = []
    if format_action(action.name, action.args) != pair["reply"]:
        problems.append(f"not canonical: {pair['reply']!r}")
    for key, value in action.args.items():
        if normalize_input(value) != value:
            problems.append(f"{key}={value!r} is not normalised")
        if not value_is_copied(pair["prompt"], key, value):
            problems.append(f"{key}={value!r} is not a word span of {normalize_input(pair['prompt'])!r}")
    return problems


# -------------------------------------------------------------- number words
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth", 7: "seventh",
             8: "eighth", 9: "ninth", 10: "tenth", 11: "eleventh", 12: "twelfth", 13: "thirteenth",
             14: "fourteenth", 15: "fifteenth", 16: "sixteenth", 17: "seventeenth", 18: "eighteenth",
             19: "nineteenth", 20: "twentieth", 30: "thirtieth"}


def number_words(n: int) -> str:
    """A non-negative integer below a million in words, as the recognizer writes it."""
    if n < 0 or n >= 1_000_000:
        raise ValueError(f"number {n} out of range [0, 1000000)")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + number_words(rest))
    rest = n % 1000
    head = number_words(n // 1000) + " thousand"
    if rest == 0:
        return head
    return head + (" and " if rest < 100 else " ") + number_words(rest)


def ordinal_words(n: int) -> str:
    if n in _ORDINALS:
        return _ORDINALS[n]
    return _TENS[n // 10] + " " + _ORDINALS[n % 10]


_NUMBER_WORDS = frozenset(_ONES + _TENS[2:] + ["hundred", "thousand", "million", "half", "quarter", "third",
                                               "thirds", "quarters", "halves", "dozen", "point", "oh"])

# ======================================================================= HWU64
_CANNOT_TOPIC = {
    "weather": "weather", "news": "news", "music": "music", "play_music": "music", "play_radio": "radio",
    "play_podcasts": "podcasts", "play_audiobook": "audiobooks", "play_game": "games",
    "email_query": "email", "email_sendemail": "email", "email_addcontact": "contacts",
    "email_querycontact": "contacts", "iot": "smart home", "audio": "volume", "takeaway": "shopping",
    "transport_query": "transport", "transport_ticket": "transport", "transport_taxi": "transport",
    "transport_traffic": "traffic", "qa_factoid": "facts", "qa_definition": "definitions", "qa_stock": "stocks",
    "qa_currency": "currency", "calendar": "calendar", "cooking": "recipes", "recommendation": "recommendations",
    "social": "social media",
}
# intents that stay chat (not action data): the chat corpora answer jokes and quirky small talk
CHAT_INTENTS = ("general_joke", "general_quirky", "general_dontcare", "general_explain")
PRAISE_REPLIES = ("Glad to help!", "Thanks, glad I could help.", "You're welcome.", "Happy to help.",
                  "Thanks, that's kind of you.")
_DEICTIC = re.compile(r"^(?:this|that|here|there|my|your|the)\b|location$|^(?:date|day|time|now|today)$")


def read_hwu64(path) -> list[dict]:
    """The rows of ``hwu64.jsonl`` (a file, or a folder holding it): {text, intent, slots}."""
    path = Path(path)
    if path.is_dir():
        path = path / "hwu64.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"HWU64 file {path} not found (expected hwu64/hwu64.jsonl)")
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or "text" not in row or "intent" not in row:
                raise ValueError(f"{path}:{n}: expected an object with 'text' and 'intent'")
            row.setdefault("slots", [])
            rows.append(row)
    return rows


def _clean_hwu_text(text: str) -> str:
    """Normalised words without the wake word of the HWU64 collection ("olly")."""
    words = [w for w in normalize_input(text).split() if w not in ("olly", "ollie")]
    return " ".join(words)


# HWU64's annotators often cut a time or a date short of words the skills need: "six [in the morning]",
# "two hours [from now]", "[next] friday". A value is widened over such words where they touch it, so
# that every reference keeps what says am or pm, and a model is not taught to cut them.
_TIME_TAILS = (("in", "the", "morning"), ("in", "the", "afternoon"), ("in", "the", "evening"), ("at", "night"),
               ("tonight",), ("am",), ("pm",), ("oclock",), ("o'clock",), ("from", "now"))
_DATE_HEADS = (("next",), ("this",), ("coming",), ("this", "coming"))
_DATE_TAILS = (("morning",), ("afternoon",), ("evening",), ("night",))


def _widen(words: list[str], value: str, heads=(), tails=()) -> str:
    """`value` (a word span of `words`) grown over one of `heads` just before it and `tails` just after it."""
    vw = value.split()
    i = _find_span(words, vw)
    if i < 0:
        return value
    j = i + len(vw)
    for head in sorted(heads, key=len, reverse=True):
        if i >= len(head) and tuple(words[i - len(head):i]) == head and not set(head) & set(vw):
            i -= len(head)
            break
    for tail in sorted(tails, key=len, reverse=True):
        if tuple(words[j:j + len(tail)]) == tail and not set(tail) & set(vw):
            j += len(tail)
            break
    return " ".join(words[i:j])


def _slots(row: dict, words: list[str]) -> dict[str, list[str]]:
    """slot name -> normalised values that are word spans of the normalised text (in order)."""
    out: dict[str, list[str]] = defaultdict(list)
    for s in row.get("slots") or []:
        value = _clean_hwu_text(s.get("value", ""))
        if value and _find_span(words, value.split()) >= 0:
            if s["slot"] == "time":
                value = _widen(words, value, tails=_TIME_TAILS)
            elif s["slot"] == "date":
                value = _widen(words, value, heads=_DATE_HEADS, tails=_DATE_TAILS)
            out[s["slot"]].append(value)
    return out


_LIST_SUFFIX = re.compile(r"\s+lists?$")


def _list_name(slots: dict, words: list[str]) -> Optional[str]:
    for value in slots.get("list_name", []):
        value = _LIST_SUFFIX.sub("", value)
        if value and value not in ("list", "lists", "my", "the", "new") and _find_span(words, value.split()) >= 0:
            return value
    return None


_MATH_START = frozenset(_NUMBER_WORDS | {"square", "root", "sum", "product", "add", "subtract", "multiply",
                                         "divide", "half", "a"})
_MATH_OK = frozenset(_NUMBER_WORDS | {
    "plus", "minus", "times", "multiplied", "divided", "by", "over", "into", "percent", "percentage", "of",
    "and", "square", "root", "squared", "cubed", "sum", "product", "add", "added", "to", "subtract", "from",
    "multiply", "divide", "up", "a", "in", "off", "kg", "kilo", "kilos", "pound", "pounds", "inches", "inch",
    "centimeters", "centimetres", "cm", "miles", "mile", "kilometers", "kilometres", "kilometer", "foot", "feet",
    "make", "dollars", "the", "remainder", "is", "when"})
_UNITS = frozenset({"kg", "kilo", "kilos", "pound", "pounds", "inches", "inch", "centimeters", "centimetres",
                    "cm", "miles", "mile", "kilometers", "kilometres", "kilometer", "foot", "feet", "dollars"})


def _math_expr(words: list[str]) -> Optional[str]:
    """The arithmetic span of a qa_maths request, "" when it names no number, None when unsure."""
    if not any(w in _NUMBER_WORDS for w in words):
        return ""
    if any(w in ("equals", "equal", "x", "if", "interest", "sin") for w in words[:-1]):
        return None
    start = next((i for i, w in enumerate(words) if w in _MATH_START or w in _UNITS), None)
    end = max((i for i, w in enumerate(words) if w in _NUMBER_WORDS or w in _UNITS), default=None)
    if start is None or end is None or end < start:
        return None
    if words[start] == "a" and (start + 1 >= len(words) or words[start + 1] not in _NUMBER_WORDS):
        start += 1
    span = words[start:end + 1]
    if not all(w in _MATH_OK for w in span) or not any(w in _NUMBER_WORDS for w in span):
        return None
    if len(span) < 2:
        return None
    return " ".join(span)


_TIME_WORDS = re.compile(r"\btime\b|\bclock\b")
_DATE_WORDS = re.compile(r"\bdate\b|^whats today$|^what's today$")
_WEEKDAY_ASK = re.compile(r"\bwhat day\b|\bwhich day\b|\bday of the week\b|\bweekday\b|\bday today\b|"
                          r"\btoday's day\b|\bis it (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)")
_UNTIL_ASK = re.compile(r"\bhow (?:many days|long) (?:until|till|to|before)\b|\bdays (?:until|till|left)\b")
_NOT_A_DATE = frozenset({"today", "this year", "next year", "date", "day", "this month", "now", "todays", "today's"})


def _datetime_query(words: list[str], slots: dict) -> tuple[Optional[str], dict]:
    text = " ".join(words)
    places = [p for p in slots.get("place_name", []) + slots.get("time_zone", []) if not _DEICTIC.search(p)]
    place = places[0] if len(places) == 1 else None
    if len(places) > 1 or re.search(r"\bdifference\b|\bweek of the year\b|\bwhich week\b|\bhow many days are\b"
                                     r"|\bholiday\b|\bmonth\b", text):
        return None, {}
    dates = [d for d in slots.get("date", []) + slots.get("event_name", []) if d not in _NOT_A_DATE]
    if _UNTIL_ASK.search(text):
        return ("clock.until", {"date": dates[0]}) if len(dates) == 1 else (None, {})
    if _WEEKDAY_ASK.search(text) or re.search(r"\b(?:fall|falls|lands|comes) on\b|\bis on what\b", text):
        if len(dates) > 1:
            return None, {}
        return "clock.weekday", ({"date": dates[0]} if dates else {})
    if _DATE_WORDS.search(text):
        return ("clock.date", {"place": place} if place else {}) if not dates else (None, {})
    if _TIME_WORDS.search(text) or place:
        if dates or slots.get("time"):
            return None, {}
        return "clock.time", ({"place": place} if place else {})
    return None, {}


def _datetime_convert(words: list[str], slots: dict) -> tuple[Optional[str], dict]:
    """Only "the time in X" questions a clock can answer: one named place and no given time."""
    text = " ".join(words)
    places = [p for p in slots.get("place_name", []) if not _DEICTIC.search(p)]
    if slots.get("time") or slots.get("time_zone") or len(places) != 1:
        return None, {}
    if re.search(r"\b(?:change|switch|set|convert)\b", text):
        return None, {}
    return "clock.time", {"place": places[0]}


_ADD_ITEM = re.compile(r"^(?:please |can you |could you |i want to |i need to |)(?:add|put|include|insert|append) "
                       r"(?:an? |some )?(?P<item>[a-z' ]+?) (?:to|on|in|into|onto) (?:my|the|our)?\s*"
                       r"(?P<list>[a-z' ]*?)\s*lists?$")
_REMOVE_ITEM = re.compile(r"^(?:please |can you |could you |)(?:remove|delete|take|erase|cross|strike) "
                          r"(?:the )?(?P<item>[a-z' ]+?) (?:off |out )?(?:from|of|off) (?:my|the|our)?\s*"
                          r"(?P<list>[a-z' ]*?)\s*lists?$")
_CLEAR_LIST = re.compile(r"\b(?:clear|empty|delete|remove|erase|wipe|reset|get rid of|throw away)\b"
                         r"(?: out| all of)? (?:my |the |our |this |entire |whole |all |)+(?P<list>[a-z' ]*?)\s*lists?\b")


_NOT_A_LIST = frozenset({None, "", "a", "an", "the", "new", "a new", "this", "that", "my", "our", "your", "of"})


def _lists(intent: str, words: list[str], slots: dict) -> tuple[Optional[str], dict]:
    text = " ".join(words)
    if set(slots) - {"list_name", "date", "drink_type", "food_type", "ingredient", "person"}:
        return None, {}
    list_name = _list_name(slots, words)
    if intent == "lists_query":
        if not re.search(r"\blists?\b", text):
            return None, {}
        return "list.read", ({"list": list_name} if list_name else {})
    if intent == "lists_createoradd":
        m = _ADD_ITEM.match(text)
        if m:
            item = m.group("item").strip()
            lst = m.group("list").strip() or None
            if lst and lst != list_name and list_name is not None:
                lst = list_name if _find_span(words, list_name.split()) >= 0 else lst
            if item in ("items", "item", "an item", "something", "it", "this", "that", "new item", "things"):
                item = None
            args = {"item": item, "list": lst if lst not in _NOT_A_LIST else None}
            return "list.add", {k: v for k, v in args.items() if v}
        if re.search(r"\b(?:create|make|start|open|new)\b", text) and re.search(r"\blists?\b", text):
            return "list.add", ({"list": list_name} if list_name else {})
        return None, {}
    if intent == "lists_remove":
        m = _REMOVE_ITEM.match(text)
        if m and m.group("item").strip() not in ("items", "item", "everything", "all", "all items", "all the items"):
            item, lst = m.group("item").strip(), m.group("list").strip() or None
            if lst in _NOT_A_LIST:
                lst = None
            return "list.remove", {k: v for k, v in {"item": item, "list": lst}.items() if v}
        m = _CLEAR_LIST.search(text)
        if m:
            lst = m.group("list").strip() or None
            if lst and (lst.split()[0] in ("items", "item", "everything") or lst in _NOT_A_LIST):
                lst = None
            return "list.clear", ({"list": lst} if lst else {})
        return None, {}
    return None, {}


def hwu64_target(row: dict) -> tuple[Optional[str], str]:
    """(reply, reason) for one HWU64 row: markup or plain text; reply None with the reason it is dropped."""
    intent = row["intent"]
    if re.search(r"\d", row["text"]):
        return None, "digits (the recognizer writes words)"
    text = _clean_hwu_text(row["text"])
    words = text.split()
    if not words:
        return None, "empty"
    if intent in CHAT_INTENTS:
        return None, "chat intent"
    slots = _slots(row, words)
    name, args = None, {}
    if intent == "alarm_set":
        if re.search(r"\btimer\b", text) and not slots.get("time"):
            return None, "timer without a time"
        name = "alarm.set"
        time = slots.get("time", [])
        dates = [d for d in slots.get("date", []) if d not in ("date",)]
        args = {"time": time[0] if time else None, "date": dates[0] if len(dates) == 1 else None}
        if len(dates) > 1 or len(time) > 1:
            return None, "several times or dates"
        label = slots.get("event_name", [])
        m = re.search(r"\bremind me to (.+?)(?: at| on| tomorrow| today|$)", text)
        if m and len(label) <= 1 and len(m.group(1).split()) <= 6:
            args["label"] = m.group(1).strip()
        elif len(label) == 1:
            args["label"] = label[0]
    elif intent == "alarm_query":
        name = "alarm.list"
    elif intent == "alarm_remove":
        time = slots.get("time", [])
        dates = slots.get("date", [])
        if len(time) > 1 or len(dates) > 1:
            return None, "several times or dates"
        name = "alarm.cancel"
        args = {"time": time[0] if time else None, "date": dates[0] if dates else None}
    elif intent == "datetime_query":
        name, args = _datetime_query(words, slots)
        if name is None:
            return None, "not a clock question"
    elif intent == "datetime_convert":
        name, args = _datetime_convert(words, slots)
        if name is None:
            return None, "time zone conversion"
    elif intent == "qa_maths":
        expr = _math_expr(words)
        if expr is None:
            return None, "no clear expression"
        name, args = "calc", {"expr": expr}
    elif intent.startswith("lists_"):
        name, args = _lists(intent, words, slots)
        if name is None:
            return None, "unclear list request"
    elif intent == "calendar_set" and re.match(r"^(?:please )?remind me\b", text):
        m = re.search(r"\bremind me (?:to |about |of )?(.+?)(?: at .*| on .*| tomorrow.*| today.*| tonight.*|$)", text)
        time, dates = slots.get("time", []), slots.get("date", [])
        if len(time) > 1 or len(dates) > 1:
            return None, "several times or dates"
        label = m.group(1).strip() if m else None
        if label and (len(label.split()) > 6 or any(v in label for v in time + dates)):
            label = None
        name = "alarm.set"
        args = {"time": time[0] if time else None, "date": dates[0] if dates else None, "label": label}
    elif intent == "general_repeat":
        name = "conv.repeat"
    elif intent == "general_commandstop":
        name = "conv.stop"
    elif intent == "general_affirm":
        name = "conv.yes"
    elif intent == "general_confirm":
        # "check and confirm my last instruction": the user asks what the assistant heard
        name = "conv.recall"
    elif intent == "general_negate":
        name = "conv.no"
    elif intent == "general_praise":
        return PRAISE_REPLIES[sum(map(ord, text)) % len(PRAISE_REPLIES)], "ok"
    else:
        topic = _CANNOT_TOPIC.get(intent) or _CANNOT_TOPIC.get(intent.split("_")[0])
        if topic is None:
            return None, "unknown intent"
        name, args = "cannot", {"topic": topic}
    args = {k: v for k, v in args.items() if v}
    for k, v in args.items():
        if not value_is_copied(text, k, v):
            return None, f"{k} not a copy"
    return format_action(name, args), "ok"


def hwu64_pairs(rows: Iterable[dict]) -> tuple[list[dict], Counter, Counter]:
    """Pairs for the mappable rows, plus (kept, dropped) counts per intent; duplicates after cleaning dropped."""
    pairs, kept, dropped, seen = [], Counter(), Counter(), set()
    reasons: Counter = Counter()
    for row in rows:
        reply, reason = hwu64_target(row)
        intent = row["intent"]
        if reply is None:
            dropped[intent] += 1
            reasons[(intent, reason)] += 1
            continue
        prompt = _clean_hwu_text(row["text"])
        if prompt in seen:
            dropped[intent] += 1
            reasons[(intent, "duplicate")] += 1
            continue
        seen.add(prompt)
        kept[intent] += 1
        action = parse_action(reply)
        pairs.append({"prompt": prompt, "reply": reply, "context": [], "source": f"hwu64/{intent}",
                      "intent": action.name if action else "chat"})
    for (intent, reason), n in sorted(reasons.items()):
        if reason != "chat intent":
            logger.info("hwu64 dropped %-22s %4d  %s", intent, n, reason)
    return pairs, kept, dropped


# ================================================================== generated
FIRST_NAMES = """anna bob maria james li wei mohammed fatima priya raj sofia lucas emma noah olivia liam aisha
omar yuki hiroshi mei chen olga ivan ingrid lars pierre camille giulia marco carlos lucia diego ana joao
kwame amara chinedu zanele thabo nia kofi ayodele leila reza darius sara david rachel miriam ahmed yusuf
elif mehmet kenji sakura minji jisoo hana arjun ananya deepak kavya tariq nadia mateo valentina sven astrid
nikolai katarina pablo rosa tom lucy jack grace ben chloe sam zoe max mia leo ella hugo ines tomas eva
finn freya oscar ruby felix isla hamza zara ali layla samir noor tenzin pema kai leilani ngozi tunde""".split()
_CITY_TEXT = """tokyo|london|paris|new york|berlin|madrid|rome|lisbon|dublin|moscow|beijing|shanghai|seoul|sydney|
melbourne|auckland|toronto|vancouver|chicago|los angeles|san francisco|mexico city|sao paulo|buenos aires|lima|
bogota|cairo|lagos|nairobi|johannesburg|cape town|casablanca|dubai|istanbul|tehran|karachi|mumbai|delhi|
bangalore|dhaka|bangkok|singapore|jakarta|manila|hanoi|hong kong|taipei|osaka|kyoto|lyon|marseille|munich|
vienna|prague|warsaw|budapest|athens|oslo|stockholm|helsinki|copenhagen|amsterdam|brussels|zurich|geneva|
reykjavik|anchorage|honolulu|denver|miami|boston|seattle|montreal|havana|santiago|kathmandu|riyadh|doha|
edinburgh|glasgow|manchester|barcelona|valencia|naples|milan|krakow|kyiv|bucharest|accra|addis ababa|dakar|
kinshasa|lahore|chennai|kolkata|colombo|kuala lumpur|perth|brisbane|wellington|quebec|houston|dallas|phoenix|
atlanta|new orleans|las vegas|portland|rio de janeiro|caracas|quito|montevideo|ulaanbaatar|almaty|tashkent|
baku|tbilisi|yerevan|beirut|amman|jerusalem|tunis|algiers|dar es salaam|kampala|lusaka|harare"""
CITIES = [c.strip() for c in _CITY_TEXT.replace("\n", "").split("|") if c.strip()]
COUNTRIES = """japan|france|germany|spain|italy|brazil|india|china|canada|mexico|australia|egypt|kenya|nigeria|
peru|chile|norway|sweden|poland|greece|turkey|iran|thailand|vietnam|korea|ireland|portugal|argentina|morocco|
new zealand|south africa|indonesia|the philippines|iceland|finland""".replace("\n", "").split("|")
JOBS = """teacher|nurse|doctor|software engineer|carpenter|plumber|chef|lawyer|student|farmer|pilot|electrician|
accountant|designer|journalist|firefighter|pharmacist|mechanic|baker|architect|musician|police officer|
dentist|librarian|bus driver|photographer|scientist|translator|cashier|waiter|programmer|painter|
social worker|vet|engineer|writer|gardener|hairdresser|taxi driver|data analyst""".replace("\n", "").split("|")
FAVOURITES = {
    "colour": "blue red green yellow purple orange black white pink turquoise teal grey".split(),
    "food": "pizza sushi pasta tacos curry ramen dumplings paella falafel pancakes lasagne biryani".split(),
    "animal": "cat dog horse owl dolphin elephant fox penguin tiger rabbit otter".split(),
    "sport": "football tennis cricket basketball swimming cycling rugby chess volleyball hockey".split(),
    "drink": "tea coffee orange juice lemonade hot chocolate green tea milk water".split(),
    "season": "spring summer autumn winter".split(),
    "band": ["the beatles", "queen", "abba", "coldplay", "radiohead", "daft punk"],
    "book": ["dune", "the hobbit", "war and peace", "pride and prejudice", "one hundred years of solitude"],
    "film": ["star wars", "spirited away", "the matrix", "casablanca", "amelie", "jaws"],
    "fruit": "apple mango banana cherry strawberry kiwi peach pineapple grape lychee".split(),
}
GROCERIES = """milk|eggs|bread|butter|cheese|apples|bananas|rice|pasta|coffee|tea|sugar|flour|olive oil|tomatoes|
onions|garlic|potatoes|carrots|chicken|yoghurt|orange juice|cereal|peanut butter|toilet paper|dish soap|
batteries|light bulbs|shampoo|toothpaste|lemons|avocados|spinach|salmon|tofu|oat milk|honey|jam|crisps|
dog food|cat litter|paper towels|lentils|chickpeas|soy sauce|ginger|chillies|noodles|biscuits|washing powder|
bin bags|sponges|tortillas|mushrooms|cucumbers|strawberries|ice cream|sparkling water|salt|pepper""".replace("\n", "").split("|")
TODOS = """call the bank|pay the rent|book a dentist appointment|water the plants|renew my passport|fix the bike|
email grandma|clean the garage|buy a birthday present|return the library books|walk the dog|take out the bins|
finish the report|call mum|pick up the dry cleaning|wash the car|pay the electricity bill|order new glasses""".replace("\n", "").split("|")
LIST_NAMES = ["shopping", "grocery", "to do", "packing", "christmas", "birthday", "hardware store", "party",
              "work", "reading", "chores", "holiday", "gift", "camping", "school", "weekend"]
TIMER_LABELS = ["pasta", "eggs", "laundry", "pizza", "tea", "bread", "cookies", "rice", "oven", "homework",
                "workout", "nap", "meditation", "cake", "potatoes", "steak", "parking", "break", "study",
                "plank", "roast", "soup", "tea steeping", "the oven", "reading"]
DATES = ["christmas", "easter", "halloween", "new year's day", "new year's eve", "valentine's day", "my birthday",
         "next friday", "next monday", "this saturday", "the weekend", "thanksgiving", "diwali", "eid",
         "chinese new year", "midsummer", "boxing day", "st patrick's day"]
MONTHS = "january february march april may june july august september october november december".split()


def _a_date(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        return rng.choice(DATES)
    day = ordinal_words(rng.randint(1, 31))
    month = rng.choice(MONTHS)
    return rng.choice([f"{month} {day}", f"the {day} of {month}", f"{day} {month}" if r < 0.6 else f"{month} {day}"])


def _a_time(rng: random.Random) -> str:
    h = rng.randint(1, 12)
    m = rng.choice([0, 0, 0, 15, 30, 45, 5, 10, 20, 40, 50])
    hw = number_words(h)
    if m == 0:
        base = rng.choice([hw, f"{hw} o'clock"])
    elif m == 30 and rng.random() < 0.3:
        base = f"half past {hw}"
    elif m == 15 and rng.random() < 0.3:
        base = f"quarter past {hw}"
    elif m < 10:
        base = f"{hw} oh {number_words(m)}"
    else:
        base = f"{hw} {number_words(m)}"
    suffix = rng.choice(["", " am", " pm", " in the morning", " at night", " pm", " am", " in the afternoon",
                         " in the evening"])
    if "o'clock" in base and suffix in (" am", " pm"):
        suffix = ""
    return base + suffix


def _a_duration(rng: random.Random) -> tuple[str, str]:
    """(duration words, adjective form for "a five minute timer" or "" when it has none)."""
    r = rng.random()
    if r < 0.45:
        n = rng.choice([1, 2, 3, 4, 5, 5, 6, 7, 8, 10, 10, 12, 15, 15, 20, 25, 30, 35, 40, 45, 50, 90])
        if n == 1:
            return rng.choice(["one minute", "a minute"]), "one minute"
        w = number_words(n)
        return f"{w} minutes", f"{w} minute"
    if r < 0.6:
        n = rng.choice([10, 15, 20, 30, 40, 45, 60, 90, 5, 2])
        w = number_words(n)
        return f"{w} seconds", f"{w} second"
    if r < 0.72:
        n = rng.choice([1, 2, 3, 4, 6])
        if n == 1:
            return rng.choice(["an hour", "one hour"]), "one hour"
        return f"{number_words(n)} hours", f"{number_words(n)} hour"
    if r < 0.9:
        return rng.choice(["an hour and a half", "half an hour", "a minute and a half", "two and a half hours",
                           "three and a half minutes", "an hour and a quarter", "a quarter of an hour",
                           "ninety seconds", "a couple of minutes", "a few minutes"]), ""
    h, m = rng.randint(1, 3), rng.choice([5, 10, 15, 20, 30, 45])
    hours = "one hour" if h == 1 else f"{number_words(h)} hours"
    return f"{hours} and {number_words(m)} minutes", ""


def _pick(rng, options):
    return rng.choice(options)


# Each generator returns (prompt, action name, args, context) tuples from one random draw.
def _gen_timer(rng):
    d, adj = _a_duration(rng)
    label = rng.choice(TIMER_LABELS)
    clean_label = label[4:] if label.startswith("the ") else label
    r = rng.random()
    if r < 0.45:
        p = _pick(rng, [f"set a timer for {d}", f"timer for {d}", f"start a timer for {d}",
                        f"can you set a timer for {d}", f"please set a timer for {d}", f"count down {d}",
                        f"put a timer on for {d}", f"set timer {d}", f"give me {d}", f"time {d}",
                        f"i need a timer for {d}", f"could you start a timer for {d} please",
                        f"set a countdown for {d}", f"remind me in {d}", f"start counting down {d}",
                        f"alert me in {d}", f"let me know when {d} have passed", f"set the timer to {d}"])
        if adj and rng.random() < 0.35:
            p = _pick(rng, [f"start a {adj} timer", f"set a {adj} timer", f"{adj} timer",
                            f"can i get a {adj} timer", f"{adj} timer please"])
            return p, "timer.set", {"duration": adj}, []
        return p, "timer.set", {"duration": d}, []
    if r < 0.65:
        if adj and rng.random() < 0.4:
            p = _pick(rng, [f"set a {adj} {clean_label} timer", f"start a {adj} timer for the {clean_label}",
                            f"{adj} timer for {clean_label}"])
            return p, "timer.set", {"duration": adj, "label": clean_label}, []
        p = _pick(rng, [f"set a timer for {d} for the {clean_label}", f"set a {clean_label} timer for {d}",
                        f"start a timer called {clean_label} for {d}", f"timer for {d} for {clean_label}",
                        f"set a timer for the {clean_label} for {d}", f"{clean_label} timer {d}",
                        f"remind me to check the {clean_label} in {d}"])
        return p, "timer.set", {"duration": d, "label": clean_label}, []
    if r < 0.72:
        p = _pick(rng, ["set a timer", "start a timer", "i need a timer", "timer", "can you set a timer",
                        "set a timer please", "start the timer", f"set a {clean_label} timer",
                        f"start a timer for the {clean_label}"])
        args = {"label": clean_label} if clean_label in p else {}
        return p, "timer.set", args, []
    if r < 0.79:
        p = _pick(rng, ["what timers do i have", "show my timers", "list my timers", "how many timers are running",
                        "are there any timers", "which timers are set", "do i have any timers running",
                        "what timers are going", "list all timers", "read out my timers"])
        return p, "timer.list", {}, []
    if r < 0.89:
        if rng.random() < 0.5:
            p = _pick(rng, ["how long is left", "how much time is left", "how long left on the timer",
                            "how much longer", "time left on my timer", "how long until the timer goes off",
                            "how much time is left on the timer", "when will the timer ring", "is the timer almost done",
                            "how many minutes are left"])
            return p, "timer.left", {}, []
        p = _pick(rng, [f"how long is left on the {clean_label} timer", f"how much time is left on the {clean_label}",
                        f"how long until the {clean_label} is done", f"how much longer for the {clean_label}",
                        f"time left on the {clean_label} timer"])
        return p, "timer.left", {"label": clean_label}, []
    rr = rng.random()
    if rr < 0.35:
        p = _pick(rng, ["cancel the timer", "stop the timer", "cancel my timer", "turn off the timer",
                        "delete the timer", "kill the timer", "cancel timer", "end the timer"])
        return p, "timer.cancel", {}, []
    if rr < 0.6:
        p = _pick(rng, ["cancel all timers", "stop all the timers", "cancel all my timers", "delete all timers",
                        "cancel every timer", "clear all timers", "turn off every timer"])
        return p, "timer.cancel", {"which": "all"}, []
    if rr < 0.8 and adj:
        p = _pick(rng, [f"cancel the {adj} timer", f"stop the {adj} timer", f"delete the {adj} timer"])
        return p, "timer.cancel", {"which": f"the {adj}"}, []
    p = _pick(rng, [f"cancel the {clean_label} timer", f"stop the {clean_label} timer",
                    f"turn off the {clean_label} timer", f"delete the timer for the {clean_label}"])
    return p, "timer.cancel", {"which": clean_label}, []


_ALARM_DATES = ["tomorrow", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "today",
                "tomorrow morning", "next monday", "next friday", "the day after tomorrow", "tonight", "saturday morning"]


def _gen_alarm(rng):
    t, d = _a_time(rng), rng.choice(_ALARM_DATES)
    r = rng.random()
    if r < 0.5:
        p = _pick(rng, [f"set an alarm for {t}", f"wake me up at {t}", f"alarm at {t}", f"set an alarm at {t}",
                        f"please wake me at {t}", f"i need an alarm for {t}", f"can you set an alarm for {t}"])
        # about half of the alarms people set name a day; the model must keep both arguments
        if rng.random() < 0.55:
            p = _pick(rng, [f"set an alarm for {t} {d}", f"wake me up {d} at {t}", f"set an alarm {d} at {t}",
                            f"set an alarm for {d} at {t}", f"{d} wake me at {t}", f"alarm for {t} on {d}",
                            f"i need to get up at {t} {d}", f"can you wake me {d} at {t}"])
            return p, "alarm.set", {"time": t, "date": d}, []
        return p, "alarm.set", {"time": t}, []
    if r < 0.75:
        task = rng.choice(TODOS)
        p = _pick(rng, [f"remind me to {task} at {t}", f"remind me at {t} to {task}", f"set a reminder to {task} at {t}"])
        if rng.random() < 0.5:
            p = _pick(rng, [f"remind me to {task} {d} at {t}", f"remind me {d} at {t} to {task}",
                            f"set a reminder for {d} at {t} to {task}"])
            return p, "alarm.set", {"time": t, "date": d, "label": task}, []
        return p, "alarm.set", {"time": t, "label": task}, []
    if r < 0.87:
        return _pick(rng, ["what alarms do i have", "show my alarms", "list my alarms", "which alarms are set",
                           "do i have any alarms", "what reminders do i have", "when is my alarm"]), "alarm.list", {}, []
    r = rng.random()
    if r < 0.35:
        return _pick(rng, ["cancel my alarm", "turn off the alarm", "delete my alarm", "remove the alarm",
                           "i don't need the alarm anymore", "get rid of my alarm", "take away the alarm",
                           "switch off my alarm", "i no longer need an alarm", "please remove my alarm",
                           "delete the alarm i set"]), "alarm.cancel", {}, []
    # cancelling names a time, a day or both: none of them may turn the request into a new alarm
    cancel = ["cancel the alarm for {}", "delete my {} alarm", "turn off the alarm at {}",
              "i no longer need the {} alarm", "take away my alarm for {}", "remove my alarm for {}",
              "get rid of the {} alarm", "i don't need the alarm at {} anymore", "switch off the {} alarm",
              "please delete the alarm set for {}", "no more alarm at {}"]
    if r < 0.75:
        return _pick(rng, cancel).format(t), "alarm.cancel", {"time": t}, []
    if r < 0.85:
        return _pick(rng, cancel).format(d), "alarm.cancel", {"date": d}, []
    p = _pick(rng, [f"cancel the alarm for {d} at {t}", f"delete my alarm for {t} {d}", f"remove the {t} alarm on {d}",
                    f"take away my alarm for {d} at {t}", f"i no longer need the alarm {d} at {t}"])
    return p, "alarm.cancel", {"time": t, "date": d}, []


_UNIT_PAIRS = [("miles", "kilometres"), ("kilometres", "miles"), ("kilometers", "miles"), ("pounds", "kilograms"),
               ("kilograms", "pounds"), ("kilos", "pounds"), ("inches", "centimetres"), ("feet", "metres"),
               ("metres", "feet"), ("litres", "gallons"), ("gallons", "litres"), ("ounces", "grams"),
               ("cups", "millilitres"), ("degrees celsius", "fahrenheit"), ("degrees fahrenheit", "celsius"),
               ("hours", "minutes"), ("minutes", "seconds"), ("days", "hours"), ("weeks", "days"), ("stone", "kilos")]


def _a_number(rng, big=False) -> str:
    if big and rng.random() < 0.3:
        return number_words(rng.choice([100, 150, 200, 250, 365, 500, 999, 1000, 1200, 2500, 10000]) + rng.randint(0, 3) * 7)
    return number_words(rng.randint(0, 20) if rng.random() < 0.5 else rng.randint(2, 99))


def _gen_calc(rng):
    r = rng.random()
    a, b = _a_number(rng, big=True), _a_number(rng)
    if r < 0.5:
        op = rng.choice(["plus", "minus", "times", "multiplied by", "divided by", "plus", "times", "over"])
        expr = f"{a} {op} {b}"
        if rng.random() < 0.15:
            expr = f"{expr} {rng.choice(['plus', 'minus', 'times'])} {_a_number(rng)}"
        p = _pick(rng, [f"what is {expr}", f"what's {expr}", f"{expr}", f"calculate {expr}", f"how much is {expr}",
                        f"can you work out {expr}", f"what does {expr} make", f"tell me {expr}",
                        f"quick maths {expr}", f"what do you get for {expr}", f"solve {expr}",
                        f"what is the answer to {expr}", f"hey what's {expr}"])
        return p, "calc", {"expr": expr}, []
    if r < 0.65:
        frac = rng.choice(["a third", "a quarter", "half", "two thirds", "three quarters", "a fifth", "a tenth"])
        pct = number_words(rng.choice([5, 10, 12, 15, 18, 20, 25, 30, 40, 50, 75]))
        expr = rng.choice([f"{frac} of {a}", f"{pct} percent of {a}", f"{pct} percent of {a}"])
        p = _pick(rng, [f"what's {expr}", f"what is {expr}", f"{expr}", f"calculate {expr}", f"how much is {expr}",
                        f"work out {expr}"])
        return p, "calc", {"expr": expr}, []
    if r < 0.85:
        u1, u2 = rng.choice(_UNIT_PAIRS)
        n = _a_number(rng)
        if rng.random() < 0.5:
            expr = f"{n} {u1} in {u2}"
            p = _pick(rng, [f"{expr}", f"what is {expr}", f"how much is {expr}", f"what's {expr}"])
        elif rng.random() < 0.5:
            expr = f"{n} {u1} to {u2}"
            p = _pick(rng, [f"convert {expr}", f"can you convert {expr}", f"{expr} please"])
        else:
            expr = f"{u2} in {n} {u1}"
            p = _pick(rng, [f"how many {expr}", f"how many {expr} are there"])
        return p, "calc", {"expr": expr}, []
    if r < 0.95:
        n = _a_number(rng, big=True)
        expr = rng.choice([f"square root of {n}", f"{n} squared", f"{n} cubed", f"sum of {a} and {b}",
                           f"product of {a} and {b}", f"{a} to the power of {rng.choice(['two', 'three', 'four'])}"])
        p = _pick(rng, [f"what is the {expr}" if expr.split()[0] in ("square", "sum", "product") else f"what is {expr}",
                        f"what's the {expr}" if expr.split()[0] in ("square", "sum", "product") else f"what's {expr}",
                        f"calculate the {expr}" if expr.split()[0] in ("square", "sum", "product") else f"calculate {expr}"])
        return p, "calc", {"expr": expr}, []
    return _pick(rng, ["can you do some maths", "i need a calculator", "help me with some maths",
                       "can you calculate something for me", "do a calculation", "open the calculator"]), "calc", {}, []


def _gen_user(rng):
    name = rng.choice(FIRST_NAMES)
    city = rng.choice(CITIES + COUNTRIES)
    job = rng.choice(JOBS)
    thing = rng.choice(sorted(FAVOURITES))
    fav = rng.choice(FAVOURITES[thing])
    spelled = rng.choice(["favourite", "favorite"])
    age = number_words(rng.randint(5, 95))
    bday = _a_date(rng)
    while bday in DATES and bday not in ("christmas", "halloween", "new year's day", "valentine's day"):
        bday = _a_date(rng)
    r = rng.random()
    art = "an" if job[0] in "aeiou" else "a"
    sets = [
        (0.14, lambda: (_pick(rng, [f"my name is {name}", f"call me {name}", f"i'm {name}", f"you can call me {name}",
                                    f"my name's {name}", f"please call me {name}", f"hi i'm {name}",
                                    f"the name's {name}", f"i am {name}", f"remember my name is {name}"]),
                        {"fact": "name", "value": name})),
        (0.1, lambda: (_pick(rng, [f"i live in {city}", f"i'm from {city}", f"my home is in {city}",
                                   f"i live in {city} now", f"home for me is {city}", f"i just moved to {city}",
                                   f"my hometown is {city}", f"remember that i live in {city}"]),
                       {"fact": "home", "value": city})),
        (0.08, lambda: (_pick(rng, [f"i work as {art} {job}", f"i'm {art} {job}", f"my job is {job}",
                                    f"i am {art} {job}", f"i work as {art} {job} now", f"my profession is {job}"]),
                        {"fact": "job", "value": job})),
        (0.06, lambda: (_pick(rng, [f"i am {age} years old", f"i'm {age}", f"my age is {age}", f"i'm {age} years old",
                                    f"i just turned {age}"]), {"fact": "age", "value": age})),
        (0.06, lambda: (_pick(rng, [f"my birthday is {bday}", f"my birthday is on {bday}", f"i was born on {bday}",
                                    f"remember my birthday is {bday}"]), {"fact": "birthday", "value": bday})),
        (0.12, lambda: (_pick(rng, [f"my {spelled} {thing} is {fav}", f"i love {fav} it's my {spelled} {thing}",
                                    f"{fav} is my {spelled} {thing}", f"remember that my {spelled} {thing} is {fav}"]),
                        {"fact": f"favourite {thing}", "value": fav})),
        (0.12, lambda: (_pick(rng, ["what is my name", "what's my name", "do you know my name", "who am i",
                                    "say my name", "do you remember my name", "what did i tell you my name was",
                                    "what do you call me"]), {"fact": "name"})),
        (0.08, lambda: (_pick(rng, ["where do i live", "where's my home", "do you know where i live",
                                    "which city do i live in", "where am i from", "what's my home town"]),
                        {"fact": "home"})),
        (0.06, lambda: (_pick(rng, ["what do i do for work", "what's my job", "what is my job", "do you know my job",
                                    "what do i do for a living"]), {"fact": "job"})),
        (0.05, lambda: (_pick(rng, ["how old am i", "what's my age", "do you know how old i am"]), {"fact": "age"})),
        (0.05, lambda: (_pick(rng, ["when is my birthday", "when's my birthday", "do you know my birthday",
                                    "what day is my birthday"]), {"fact": "birthday"})),
        (0.08, lambda: (_pick(rng, [f"what's my {spelled} {thing}", f"what is my {spelled} {thing}",
                                    f"do you remember my {spelled} {thing}", f"which {thing} do i like best"]),
                        {"fact": f"favourite {thing}"})),
    ]
    acc = 0.0
    total = sum(w for w, _ in sets)
    r *= total
    for w, make in sets:
        acc += w
        if r < acc:
            prompt, args = make()
            break
    else:
        prompt, args = sets[-1][1]()
    return prompt, ("user.set" if "value" in args else "user.get"), args, []


def _gen_clock(rng):
    place = rng.choice(CITIES + COUNTRIES)
    r = rng.random()
    if r < 0.35:
        p = _pick(rng, [f"what time is it in {place}", f"what's the time in {place}", f"time in {place}",
                        f"what is the time in {place} right now", f"tell me the time in {place}",
                        f"what time is it over in {place}", f"current time in {place}", f"{place} time",
                        f"do you know the time in {place}", f"how late is it in {place}"])
        return p, "clock.time", {"place": place}, []
    if r < 0.47:
        return _pick(rng, ["what time is it", "what's the time", "tell me the time", "time please",
                           "what time is it now", "do you have the time", "have you got the time",
                           "what's the time right now", "how late is it", "current time"]), "clock.time", {}, []
    if r < 0.58:
        if rng.random() < 0.3:
            p = _pick(rng, [f"what's the date in {place}", f"what is the date in {place}", f"today's date in {place}"])
            return p, "clock.date", {"place": place}, []
        return _pick(rng, ["what's the date", "what is today's date", "what's the date today", "today's date",
                           "what date is it", "tell me the date", "what's today's date please"]), "clock.date", {}, []
    if r < 0.78:
        d = _a_date(rng)
        if rng.random() < 0.3:
            return _pick(rng, ["what day is it", "what day is it today", "what day of the week is it",
                               "which day is today"]), "clock.weekday", {}, []
        p = _pick(rng, [f"what day is {d}", f"what day of the week is {d}", f"what day does {d} fall on",
                        f"which day is {d} this year", f"{d} is what day", f"what weekday is {d}"])
        return p, "clock.weekday", {"date": d}, []
    d = _a_date(rng)
    p = _pick(rng, [f"how many days until {d}", f"how long until {d}", f"how many days till {d}",
                    f"days until {d}", f"how many days are left until {d}", f"how far away is {d}",
                    f"how many sleeps until {d}", f"how long is it to {d}", f"when is {d} how many days"])
    return p, "clock.until", {"date": d}, []


def _gen_list(rng):
    item = rng.choice(GROCERIES)
    lst = rng.choice(LIST_NAMES)
    r = rng.random()
    if r < 0.45:
        if rng.random() < 0.3:
            item = f"{item} and {rng.choice(GROCERIES)}"
            if rng.random() < 0.3:
                item = f"{rng.choice(GROCERIES)} {item}"
        if lst == "to do" and rng.random() < 0.7:
            item = rng.choice(TODOS)
        p = _pick(rng, [f"add {item} to my {lst} list", f"put {item} on the {lst} list", f"add {item} to the {lst} list",
                        f"{lst} list add {item}", f"please add {item} to my {lst} list", f"can you put {item} on my {lst} list",
                        f"add {item} to {lst}", f"stick {item} on the {lst} list", f"i need {item} on my {lst} list",
                        f"my {lst} list needs {item}", f"put {item} on my {lst} list please"])
        if rng.random() < 0.25:
            p = _pick(rng, [f"add {item} to my list", f"put {item} on the list", f"add {item} to the list",
                            f"add {item}", f"remember to buy {item}", f"we need {item}", f"we're out of {item}"])
            return p, "list.add", {"item": item}, []
        return p, "list.add", {"item": item, "list": lst}, []
    if r < 0.6:
        p = _pick(rng, [f"what's on my {lst} list", f"read my {lst} list", f"read me the {lst} list",
                        f"what is on the {lst} list", f"show me my {lst} list", f"what do i have on my {lst} list",
                        f"go through my {lst} list", f"tell me my {lst} list"])
        if rng.random() < 0.25:
            return _pick(rng, ["what's on my list", "read me my list", "what's on the list", "read the list",
                               "what lists do i have", "show me my lists"]), "list.read", {}, []
        return p, "list.read", {"list": lst}, []
    if r < 0.85:
        p = _pick(rng, [f"remove {item} from my {lst} list", f"take {item} off the {lst} list",
                        f"delete {item} from the {lst} list", f"cross {item} off my {lst} list",
                        f"i already have {item} remove it from the {lst} list"])
        if rng.random() < 0.25:
            p = _pick(rng, [f"remove {item} from the list", f"take {item} off my list", f"delete {item} from my list"])
            return p, "list.remove", {"item": item}, []
        return p, "list.remove", {"item": item, "list": lst}, []
    p = _pick(rng, [f"clear my {lst} list", f"delete the {lst} list", f"empty the {lst} list",
                    f"clear everything on my {lst} list", f"wipe the {lst} list", f"start a fresh {lst} list"])
    return p, "list.clear", {"list": lst}, []


def _gen_conv(rng):
    r = rng.random()
    if r < 0.3:
        return _pick(rng, ["what did i just say", "what did i say", "repeat what i said", "what was my last question",
                           "what did i just ask you", "can you repeat what i just said", "what did you hear",
                           "what did you think i said", "tell me what i just said", "what was the last thing i said"]), "conv.recall", {}, []
    if r < 0.6:
        return _pick(rng, ["say that again", "repeat that", "can you repeat that", "come again", "pardon",
                           "sorry what did you say", "i didn't catch that", "one more time", "what was that",
                           "say it again please", "could you repeat that please", "repeat please",
                           "what did you just say", "i missed that"]), "conv.repeat", {}, []
    return _pick(rng, ["stop", "never mind", "cancel", "forget it", "be quiet", "that's enough", "stop talking",
                       "shush", "cancel that", "nevermind", "quiet please", "ok stop", "hush", "forget about it",
                       "no stop"]), "conv.stop", {}, []


def _gen_help(rng):
    if rng.random() < 0.55:
        return _pick(rng, ["what can you do", "what are you able to do", "how can you help me", "what can i ask you",
                           "what are your skills", "what can you help me with", "what do you do",
                           "what things can you do", "what are you good at", "what features do you have",
                           "give me some examples of what you can do", "what kind of things can you do"]), "assistant.help", {}, []
    return _pick(rng, ["who are you", "what are you", "tell me about yourself", "introduce yourself",
                       "who am i talking to", "what kind of assistant are you",
                       "are you a robot", "who made you", "what's your name"]), "assistant.about", {}, []


_CANNOT_TEMPLATES = {
    "weather": ["what's the weather like", "will it rain tomorrow", "do i need an umbrella today",
                "what's the weather in {city}", "how hot is it outside", "is it going to snow", "weather forecast please"],
    "news": ["read me the news", "what's in the news today", "any news about {city}", "give me the headlines",
             "what's happening in the world"],
    "music": ["play some music", "play something by {artist}", "put on some jazz", "play my favourite song",
              "skip this song", "who sings this song", "shuffle my playlist"],
    "email": ["send an email to {name}", "do i have any new emails", "read my email", "check my inbox"],
    "contacts": ["call {name}", "what's {name}'s phone number", "add {name} to my contacts", "text {name}"],
    "smart home": ["turn on the lights", "dim the lights in the kitchen", "turn off the heating",
                   "switch the lights to blue", "start the vacuum cleaner", "lock the front door", "make me a coffee"],
    "volume": ["turn the volume up", "louder please", "mute", "turn it down a bit", "volume to fifty percent"],
    "shopping": ["order a pizza", "order me some sushi from the usual place", "buy me new headphones",
                 "get me a takeaway"],
    "transport": ["when is the next bus", "book me a taxi to the airport", "get me a train ticket to {city}",
                  "how do i get to {city} by train"],
    "traffic": ["how's the traffic", "is there traffic on the way to work", "what's the traffic like in {city}"],
    "stocks": ["how are my stocks doing", "what's the apple share price", "how is the stock market today"],
    "currency": ["what's the exchange rate for euros", "how many yen is a dollar", "convert fifty dollars to euros"],
    "definitions": ["what does serendipity mean", "define ephemeral", "what is the meaning of ubiquitous"],
    "facts": ["who is the president of france", "how tall is mount everest", "when did the second world war end",
              "what is the capital of {country}", "how far away is the moon", "who wrote hamlet"],
    "recipes": ["how do i make pancakes", "give me a recipe for lasagne", "how long do i boil an egg"],
    "calendar": ["what's on my calendar today", "add a meeting with {name} to my calendar", "what's my next appointment",
                 "cancel my meeting tomorrow"],
    "social media": ["post this on facebook", "what's new on twitter", "check my instagram"],
    "games": ["let's play a game", "play a trivia game with me", "start a quiz"],
    "audiobooks": ["play my audiobook", "continue my audiobook", "read me a book"],
    "podcasts": ["play my podcast", "play the latest episode of my podcast", "any new podcasts"],
    "radio": ["play the radio", "put on bbc radio four", "tune in to the radio"],
    "recommendations": ["recommend a good restaurant", "what's a good film to watch", "suggest a place for dinner in {city}",
                        "what should i do this weekend"],
}
_ARTISTS = ["queen", "taylor swift", "adele", "bob marley", "beyonce", "the beatles", "bts", "shakira", "miles davis"]


def _gen_cannot(rng):
    topic = rng.choice(sorted(_CANNOT_TEMPLATES))
    p = rng.choice(_CANNOT_TEMPLATES[topic]).format(city=rng.choice(CITIES), name=rng.choice(FIRST_NAMES),
                                                    artist=rng.choice(_ARTISTS), country=rng.choice(COUNTRIES))
    return p, "cannot", {"topic": topic}, []


# Yes and no are a closed class: answers are built from a core word and an optional tail, so a held-out
# answer ("of course go ahead") still shares its words with trained ones ("of course", "go ahead please").
_YES_CORE = ["yes", "yeah", "yep", "sure", "okay", "ok", "of course", "absolutely", "definitely", "please do",
             "go ahead", "do it", "that's right", "correct", "affirmative", "yes please", "alright", "right",
             "certainly", "why not", "sounds good", "exactly", "yup", "indeed"]
_YES_TAIL = ["", "", "", " please", " go ahead", " do it", " thanks", " thank you", " that's right", " that's fine",
             " sure", " yes"]
_NO_CORE = ["no", "nope", "nah", "don't", "not now", "never mind", "no thanks", "no thank you", "cancel",
            "leave it", "wrong", "not really", "negative", "no way", "not yet", "forget it", "don't do that",
            "i don't think so", "please don't", "of course not", "absolutely not", "definitely not"]
_NO_TAIL = ["", "", "", " thanks", " thank you", " leave it", " keep it", " don't", " that's wrong", " not now",
            " never mind", " no"]
_YES_NO_LEAD = ["", "", "", "", "um ", "oh ", "well ", "hmm ", "uh "]


def _yes_no(rng, yes: bool) -> str:
    core, tail = (_YES_CORE, _YES_TAIL) if yes else (_NO_CORE, _NO_TAIL)
    return (rng.choice(_YES_NO_LEAD) + rng.choice(core) + rng.choice(tail)).strip()


def _gen_context(rng):
    """Follow-ups that only make sense after the assistant's own question."""
    r = rng.random()
    d, adj = _a_duration(rng)
    lst = rng.choice(LIST_NAMES)
    questions = [
        (["cancel my timer", f"Shall I cancel the {adj or 'five minute'} timer?"]),
        (["clear my list", f"Do you want me to clear the {lst} list?"]),
        (["set an alarm", "Should I set it for seven am tomorrow?"]),
        (["cancel all my alarms", "Are you sure you want to cancel all your alarms?"]),
        (["remove milk", f"Do you mean milk on the {lst} list?"]),
        (["delete the list", f"Delete the {lst} list?"]),
        (["set a timer for an hour", "Did you say an hour?"]),
        # the questions the skills themselves ask (assistant/skills/timers.py)
        (["cancel the timer", f"You have {rng.choice(['two', 'three'])} timers. Shall I cancel the "
                              f"{adj or 'ten minute'} timer?"]),
        (["cancel my alarm", f"You have 2 alarms. Shall I cancel the one for {rng.choice(['7:00 AM', '6:30 AM', '9:15 PM'])}"
                             f" {rng.choice(['tomorrow', 'today', 'on Friday'])}?"]),
    ]
    if r < 0.3:
        return _yes_no(rng, True), "conv.yes", {}, rng.choice(questions)
    if r < 0.5:
        return _yes_no(rng, False), "conv.no", {}, rng.choice(questions)
    if r < 0.7:
        ctx = [rng.choice(["set a timer", "start a timer", "i need a timer", "timer"]),
               rng.choice(["For how long?", "How long should the timer be?", "Sure, for how long?"])]
        p = rng.choice([d, f"for {d}", f"{d} please", f"make it {d}", f"um {d}"])
        return p, "timer.set", {"duration": d}, ctx
    if r < 0.82:
        item = rng.choice(GROCERIES)
        ctx = [f"add something to my {lst} list", rng.choice(["What should I add?", "What would you like to add?"])]
        return rng.choice([item, f"add {item}", f"{item} please"]), "list.add", {"item": item}, ctx
    if r < 0.92:
        name = rng.choice(FIRST_NAMES)
        ctx = ["hello", rng.choice(["Hi! What should I call you?", "Hello! What's your name?"])]
        return rng.choice([name, f"i'm {name}", f"call me {name}", f"my name is {name}", f"it's {name}"]), "user.set", \
            {"fact": "name", "value": name}, ctx
    t = _a_time(rng)
    ctx = ["set an alarm", rng.choice(["For what time?", "What time should I set the alarm for?"])]
    return rng.choice([t, f"at {t}", f"for {t}", f"{t} please"]), "alarm.set", {"time": t}, ctx


GENERATORS: dict[str, tuple[Callable, int]] = {
    "timers": (_gen_timer, 3000),
    "alarms": (_gen_alarm, 1500),
    "arithmetic": (_gen_calc, 2200),
    "user_facts": (_gen_user, 2400),
    "clock": (_gen_clock, 1800),
    "lists": (_gen_list, 2000),
    "conversation": (_gen_conv, 300),
    "help": (_gen_help, 250),
    "cannot": (_gen_cannot, 600),
    "context": (_gen_context, 2000),
}


_PREFIXES = ("hey ", "okay ", "so ", "um ", "excuse me ", "hi ", "quick question ")
_SUFFIXES = (" please", " now", " thanks", " for me")


def _decorate(rng: random.Random, prompt: str, share: float = 0.3) -> str:
    """Sometimes a polite or hesitant word before or after the request (more distinct prompts per template)."""
    if rng.random() < share:
        prompt = rng.choice(_PREFIXES) + prompt
    if rng.random() < share / 2 and not prompt.endswith(("please", "now", "thanks", "for me")):
        prompt = prompt + rng.choice(_SUFFIXES)
    return prompt


def generated_pairs(seed: int = 0, scale: float = 1.0) -> list[dict]:
    """Generated request pairs, de-duplicated by (context, normalised prompt)."""
    rng = random.Random(seed)
    out, seen = [], set()
    for skill, (make, n) in GENERATORS.items():
        target = max(1, int(round(n * scale)))
        kept, tries = 0, 0
        while kept < target and tries < target * 20:
            tries += 1
            prompt, name, args, context = make(rng)
            prompt = normalize_input(prompt if context else _decorate(rng, prompt))
            args = {k: normalize_input(v) if k not in ("fact", "topic") else v for k, v in args.items() if v}
            key = (tuple(context), prompt)
            if key in seen:
                continue
            seen.add(key)
            kept += 1
            out.append({"prompt": prompt, "reply": format_action(name, args), "context": list(context),
                        "source": f"gen/{skill}", "intent": name})
    return out


# ====================================================================== noise
# short words a recognizer drops without changing the request ("call me bob" must not become "call bob")
_DROPPABLE = frozenset({"the", "a", "an", "please", "to", "for", "of", "just", "um", "uh", "so", "now"})
_CONFUSIONS = {
    "to": ["two", "too"], "two": ["to", "too"], "for": ["four"], "four": ["for"], "a": ["the", "uh"],
    "the": ["a", "uh"], "timer": ["time her", "time"], "right": ["write"], "know": ["no"], "no": ["know"],
    "there": ["their"], "hour": ["our"], "by": ["buy"], "buy": ["by"], "eight": ["ate"], "one": ["won"],
    "add": ["ad", "and"], "what's": ["what is", "whats"], "i'm": ["im", "i am"], "set": ["said", "sit"],
    "alarm": ["a alarm", "alarms"], "list": ["lists", "lift"], "weather": ["whether"], "minutes": ["minute"],
    "cancel": ["council"], "remind": ["rewind"], "it": ["at"], "my": ["mine", "by"], "time": ["tyme", "times"],
    "is": ["his", "as"], "you": ["ya", "u"], "can": ["could"], "what": ["want", "watt"],
}


def _protected(words: list[str], values: Iterable[str]) -> set[int]:
    keep: set[int] = set()
    for value in values:
        vw = normalize_input(value).split()
        n = len(vw)
        for i in range(len(words) - n + 1):
            if n and words[i:i + n] == vw:
                keep.update(range(i, i + n))
    return keep


def speechify(text: str, rng: random.Random, protect: Iterable[str] = (), p_drop: float = 0.25,
              p_swap: float = 0.35, p_filler: float = 0.1) -> str:
    """Recognizer-like noise: normalised, maybe one short word dropped, maybe one word misheard, maybe a filler.

    Words of any ``protect`` value (an argument's words) are never touched, and no word is inserted inside
    them, so every protected value stays a contiguous span of the result.
    """
    words = normalize_input(text).split()
    values = [v for v in protect if v]
    keep = _protected(words, values)
    if len(words) > 2 and rng.random() < p_drop:
        idx = [i for i, w in enumerate(words) if w in _DROPPABLE and i not in keep]
        if idx:
            i = rng.choice(idx)
            words = words[:i] + words[i + 1:]
            keep = _protected(words, values)
    if rng.random() < p_swap:
        idx = [i for i, w in enumerate(words) if w in _CONFUSIONS and i not in keep]
        if idx:
            i = rng.choice(idx)
            words = words[:i] + rng.choice(_CONFUSIONS[words[i]]).split() + words[i + 1:]
    if words and rng.random() < p_filler:
        words = [rng.choice(["um", "uh", "hey", "okay", "so"])] + words
    out = " ".join(words)
    # a protected value broken anyway (a swap that formed a new copy elsewhere is fine; a lost one is not)
    for v in values:
        if _find_span(out.split(), normalize_input(v).split()) < 0:
            return normalize_input(text)
    return out


def _noisy_copy(pair: dict, rng: random.Random) -> Optional[dict]:
    action = parse_action(pair["reply"])
    values = [v for k, v in action.args.items() if k not in ("fact", "topic")] if action else []
    for _ in range(4):
        prompt = speechify(pair["prompt"], rng, values, p_drop=0.5, p_swap=0.7, p_filler=0.15)
        if prompt and prompt != pair["prompt"]:
            return {**pair, "prompt": prompt, "source": pair["source"], "noisy": True}
    return None


# ====================================================================== split
def _split_point(key: str, seed: int) -> float:
    """A stable draw in [0, 1) for one normalised prompt."""
    digest = hashlib.sha1(f"{seed}:{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


# The requests a new user tries first (the README's transcript, the help text): always trained on, never
# held out, since a miss on one of these is what users meet first. The held-out sets test other phrasings.
CORE_REQUESTS = frozenset({
    "what can you do", "what time is it", "who are you", "what is the date today", "what day is it",
    "set a timer for five minutes", "set a timer for ten minutes", "what is two plus three",
    "what is seventeen times four", "my name is anna", "what is my name", "what is the weather like",
    "tell me a joke", "say that again", "stop", "help",
})


def split_by_prompt(pairs: list[dict], fractions=(0.8, 0.05, 0.15), seed: int = 0,
                    always_train: frozenset = CORE_REQUESTS) -> tuple[list, list, list]:
    """Whole normalised prompts go to train / valid / test by a hash of the prompt.

    A prompt's side depends on the prompt alone, so adding, dropping or regenerating other requests
    never moves it, and a test prompt stays a test prompt in every later build of the data. Prompts in
    ``always_train`` go to training."""
    train, valid, test = [], [], []
    for p in pairs:
        key = normalize_input(p["prompt"])
        if key in always_train:
            train.append(p)
            continue
        u = _split_point(key, seed)
        (test if u < fractions[2] else valid if u < fractions[2] + fractions[1] else train).append(p)
    return train, valid, test


def _upsample(train: list[dict], min_per_intent: int, rng: random.Random) -> list[dict]:
    """Repeats of the training pairs of rare actions (few distinct phrasings) up to ``min_per_intent``."""
    by_intent: dict[str, list[dict]] = defaultdict(list)
    for p in train:
        by_intent[p["intent"]].append(p)
    extra = []
    for intent, pairs in sorted(by_intent.items()):
        for i in range(max(0, min_per_intent - len(pairs))):
            extra.append(pairs[i % len(pairs)])
    return extra


def build_action_pairs(hwu64_path=None, seed: int = 0, scale: float = 1.0, noise_fraction: float = 0.3,
                       fractions=(0.8, 0.05, 0.15), min_per_intent: int = 150) -> tuple[list[dict], list[dict], list[dict]]:
    """(train, valid, test) action pairs; ``test`` pairs are clean (see ``noisy_test``).

    ``hwu64_path``: the hwu64 folder or file, or None for the generated part only. ``noise_fraction``:
    the share of training pairs that get an extra recognizer-noise copy. ``min_per_intent``: training pairs
    of an action with fewer pairs are repeated up to this many.
    """
    pairs: list[dict] = []
    if hwu64_path is not None:
        hp, kept, dropped = hwu64_pairs(read_hwu64(hwu64_path))
        pairs += hp
        logger.info("hwu64: %d pairs kept, %d rows dropped", sum(kept.values()), sum(dropped.values()))
        for intent in sorted(set(kept) | set(dropped)):
            logger.info("  hwu64 %-26s kept %4d dropped %4d", intent, kept[intent], dropped[intent])
    generated = generated_pairs(seed, scale)
    # a request both sources answer differently ("be quiet": HWU64 says volume) keeps the generated answer
    gen_replies = {p["prompt"]: p["reply"] for p in generated if not p["context"]}
    conflicts = [p for p in pairs if gen_replies.get(p["prompt"], p["reply"]) != p["reply"]]
    if conflicts:
        logger.info("hwu64: %d rows answered otherwise by the generated requests dropped: %s",
                    len(conflicts), sorted({p["prompt"] for p in conflicts})[:10])
        pairs = [p for p in pairs if gen_replies.get(p["prompt"], p["reply"]) == p["reply"]]
    pairs += generated
    train, valid, test = split_by_prompt(pairs, fractions, seed)
    rng = random.Random(seed + 7)
    held = {normalize_input(p["prompt"]) for p in train + valid + test}  # a noisy copy never hits another request
    extra = []
    for p in train:
        if rng.random() < noise_fraction:
            q = _noisy_copy(p, rng)
            if q is not None and q["prompt"] not in held:
                extra.append(q)
    train = train + extra + _upsample(train, min_per_intent, rng)
    rng.shuffle(train)
    log_counts("train", train)
    log_counts("valid", valid)
    log_counts("test", test)
    return train, valid, test


def noisy_test(test: list[dict], seed: int = 0, train: Sequence[dict] = ()) -> list[dict]:
    """A noisy copy of each test pair (prompts not in ``train``); pairs noise cannot change are kept as they are."""
    rng = random.Random(seed + 11)
    seen = {normalize_input(p["prompt"]) for p in train}
    out = []
    for p in test:
        q = _noisy_copy(p, rng)
        out.append(q if q is not None and q["prompt"] not in seen else p)
    return out


def log_counts(name: str, pairs: Sequence[dict]) -> dict:
    by_source = Counter(p["source"].split("/")[0] + "/" + skill_group(p["intent"] if p["intent"] != "chat" else None)
                        for p in pairs)
    logger.info("%s: %d action pairs: %s", name, len(pairs), dict(sorted(by_source.items())))
    return dict(by_source)
