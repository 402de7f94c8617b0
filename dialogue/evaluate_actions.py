"""How well a reply model answers held-out requests with the right action markup.

    python -m dialogue.evaluate_actions --model runs/dialogue/best.pt --test data/dialogue/actions_test.jsonl \
        [--json OUT] [--limit N] [--options '{"strategy": "greedy"}']

For each held-out request (pairs written by ``scripts/prepare_dialogue_data.py --actions``) the model's reply is
parsed with ``dialogue.actions.parse_action`` and scored:

- exact: the action name and every argument equal (values compared after ``normalize_input``); for a pair
  whose expected reply is plain text (e.g. thanks for praise), a plain-text reply counts as exact;
- grounded: exact after ``dialogue.actions.ground_action`` (what the assistant acts on: argument slips
  snapped to the request's words, invented values dropped);
- name: the action name alone (or plain text where plain text is expected);
- made_up: a plain-text reply where an action was expected (the model answered on its own);
- invalid: a reply that starts like markup but is not an action.

Reported overall, per skill group (``dialogue.intents.SKILL_GROUPS``), per intent and per data source.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Optional, Sequence

from .actions import Action, ground_action, is_action, parse_action
from .corpora import read_jsonl
from .intents import skill_group
from .text import normalize_input

logger = logging.getLogger(__name__)

__all__ = ["evaluate_actions", "parse_reply", "score_reply", "format_table"]

_TAG = re.compile(r"<([A-Za-z_.]+)>")


def parse_reply(reply: str):
    """The action in a generated reply, None for plain text, or the string "invalid".

    Forgiving about what the reply cleaning may add to markup: a capital first letter inside the first
    tag and closing punctuation.
    """
    text = (reply or "").strip()
    if not is_action(text):
        return None
    text = _TAG.sub(lambda m: f"<{m.group(1).lower()}>", text).rstrip(".!?\u2026 ")
    try:
        return parse_action(text)
    except ValueError:
        return "invalid"


def _norm_args(action: Action) -> dict[str, str]:
    return {k: normalize_input(v) for k, v in action.args.items() if normalize_input(v)}


def score_reply(expected_reply: str, reply: str, request: Optional[str] = None) -> dict:
    """{exact, grounded, name, made_up, invalid} (booleans) for one generated ``reply`` against the pair's
    reply; ``grounded`` grounds the reply's arguments in ``request`` first (equal to exact without one)."""
    expected = parse_action(expected_reply)
    got = parse_reply(reply)
    if expected is None:
        ok = got is None
        return {"exact": ok, "grounded": ok, "name": ok, "made_up": False, "invalid": got == "invalid"}
    if got is None or got == "invalid":
        return {"exact": False, "grounded": False, "name": False, "made_up": got is None, "invalid": got == "invalid"}
    name_ok = got.name == expected.name
    grounded = ground_action(got, request) if request is not None else got
    return {"exact": name_ok and _norm_args(got) == _norm_args(expected),
            "grounded": name_ok and _norm_args(grounded) == _norm_args(expected),
            "name": name_ok, "made_up": False, "invalid": False}


def _expected_name(pair: dict) -> Optional[str]:
    try:
        a = parse_action(pair["reply"])
    except ValueError:
        return None
    return a.name if a else None


def _summary(rows: list[dict]) -> dict:
    n = len(rows)
    if not n:
        return {"n": 0}
    return {"n": n, **{k: round(sum(r[k] for r in rows) / n, 4) for k in ("exact", "grounded", "name", "made_up", "invalid")}}


def evaluate_actions(responder, pairs: Sequence[dict], options=None, examples: int = 30) -> dict:
    """Scores of ``responder`` on held-out action ``pairs`` (see the module docstring); ``examples`` misses kept."""
    rows = []
    misses = []
    for pair in pairs:
        history = list(pair.get("context") or [])
        reply = responder.reply(history, pair["prompt"], options)
        s = score_reply(pair["reply"], reply, pair["prompt"])
        name = _expected_name(pair)
        row = {**s, "intent": pair.get("intent") or (name or "chat"), "group": skill_group(name),
               "source": str(pair.get("source", "")).split("/")[0] or "unknown"}
        rows.append(row)
        if not s["exact"] and len(misses) < examples:
            misses.append({"context": history, "prompt": pair["prompt"], "expected": pair["reply"], "reply": reply})

    def by(key):
        groups = defaultdict(list)
        for r in rows:
            groups[r[key]].append(r)
        return {k: _summary(v) for k, v in sorted(groups.items())}

    return {"overall": _summary(rows), "per_group": by("group"), "per_intent": by("intent"),
            "per_source": by("source"), "misses": misses}


def format_table(result: dict) -> str:
    """A plain-text table of the overall, per-group, per-source and per-intent numbers."""
    lines = [f"{'':28s} {'n':>6s} {'exact':>7s} {'grounded':>8s} {'name':>7s} {'made_up':>8s} {'invalid':>8s}"]

    def line(label, s):
        if not s.get("n"):
            return f"{label:28s} {0:6d}"
        return (f"{label:28s} {s['n']:6d} {s['exact']:7.3f} {s['grounded']:8.3f} {s['name']:7.3f} {s['made_up']:8.3f} "
                f"{s['invalid']:8.3f}")

    lines.append(line("overall", result["overall"]))
    for title in ("per_group", "per_source", "per_intent"):
        lines.append(f"-- {title[4:]}")
        for k, s in result[title].items():
            lines.append(line(k, s))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a responder checkpoint (or 'en' for the shipped model)")
    ap.add_argument("--test", type=Path, default=Path("data/dialogue/actions_test.jsonl"))
    ap.add_argument("--json", type=Path, default=None, help="write the numbers (and some misses) here")
    ap.add_argument("--limit", type=int, default=None, help="score only the first N pairs")
    ap.add_argument("--options", default=None, help="decoding options as JSON (default: greedy)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from .responder import Responder  # heavy import only for the command line

    pairs = read_jsonl(args.test)
    if args.limit is not None:
        pairs = pairs[: args.limit]
    options = json.loads(args.options) if args.options else {"strategy": "greedy"}
    responder = Responder.load(args.model)
    result = evaluate_actions(responder, pairs, options)
    result["model"], result["test"] = str(args.model), str(args.test)
    print(format_table(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
