"""Scoring of action replies: exact match of name and arguments, name only, made-up plain text, invalid markup."""

import json

import pytest

from dialogue.evaluate_actions import evaluate_actions, format_table, main, parse_reply, score_reply
from dialogue.testing import overfit_responder

PAIRS = [
    {"prompt": "set a timer for five minutes", "reply": "<timer.set> <duration> five minutes", "context": [],
     "source": "gen/timers", "intent": "timer.set"},
    {"prompt": "what time is it in tokyo", "reply": "<clock.time> <place> tokyo", "context": [],
     "source": "hwu64/datetime_query", "intent": "clock.time"},
    {"prompt": "what is seven times four", "reply": "<calc> <expr> seven times four", "context": [],
     "source": "gen/arithmetic", "intent": "calc"},
    {"prompt": "yes", "reply": "<conv.yes>", "context": ["cancel my timer", "Shall I cancel the timer?"],
     "source": "gen/context", "intent": "conv.yes"},
    {"prompt": "great job", "reply": "Glad to help!", "context": [], "source": "hwu64/general_praise", "intent": "chat"},
]


class Scripted:
    """A stand-in responder that answers from a table (the scoring is what is tested)."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def reply(self, history, text, options=None):
        self.calls.append((list(history), text, options))
        return self.answers[text]


def test_score_reply():
    assert score_reply("<calc> <expr> two plus two", "<calc> <expr> two plus two")["exact"]
    assert score_reply("<calc> <expr> two plus two", "<Calc> <expr> Two plus two.")["exact"]  # reply cleaning
    s = score_reply("<calc> <expr> two plus two", "<calc> <expr> two plus three")
    assert not s["exact"] and s["name"] and not s["made_up"]
    s = score_reply("<calc> <expr> two plus two", "Four.")
    assert not s["exact"] and not s["name"] and s["made_up"]
    s = score_reply("<calc> <expr> two plus two", "<expr> two")
    assert s["invalid"] and not s["made_up"]
    assert score_reply("<calc> <expr> two plus two", "<calc>")["name"]
    assert not score_reply("<calc> <expr> two plus two", "<calc>")["exact"]
    assert not score_reply("<calc>", "<calc> <expr> two")["exact"]
    assert score_reply("Thanks!", "You're welcome.")["exact"]
    assert not score_reply("Thanks!", "<conv.yes>")["name"]
    assert parse_reply("hello") is None and parse_reply("<nope>") == "invalid"
    # grounded: slips are snapped to the request's words before scoring
    s = score_reply("<timer.set> <duration> five minutes", "<timer.set> <duration> five minute",
                    "set a timer for five minutes")
    assert s["grounded"] and not s["exact"]


def test_evaluate_actions_groups_and_counts():
    bot = Scripted({
        "set a timer for five minutes": "<timer.set> <duration> five minutes",
        "what time is it in tokyo": "<clock.time> <place> paris",
        "what is seven times four": "It is twenty eight.",
        "yes": "<conv.yes>",
        "great job": "Thank you.",
    })
    result = evaluate_actions(bot, PAIRS, {"strategy": "greedy"})
    assert bot.calls[3] == (["cancel my timer", "Shall I cancel the timer?"], "yes", {"strategy": "greedy"})
    o = result["overall"]
    assert o["n"] == 5 and o["exact"] == pytest.approx(3 / 5) and o["name"] == pytest.approx(4 / 5)
    assert o["made_up"] == pytest.approx(1 / 5) and o["invalid"] == 0
    g = result["per_group"]
    assert g["clock"] == {"n": 1, "exact": 0.0, "grounded": 0.0, "name": 1.0, "made_up": 0.0, "invalid": 0.0}
    assert g["arithmetic"]["made_up"] == 1.0 and g["timers/alarms"]["exact"] == 1.0
    assert g["conversation"]["exact"] == 1.0 and g["chat"]["exact"] == 1.0
    assert set(result["per_intent"]) == {"timer.set", "clock.time", "calc", "conv.yes", "chat"}
    assert set(result["per_source"]) == {"gen", "hwu64"}
    assert [m["prompt"] for m in result["misses"]] == ["what time is it in tokyo", "what is seven times four"]
    table = format_table(result)
    assert "overall" in table and "clock" in table and "calc" in table


def test_with_a_tiny_responder_and_the_command_line(tmp_path, capsys):
    bot = overfit_responder(steps=40)
    result = evaluate_actions(bot, PAIRS[:3])
    assert result["overall"]["n"] == 3
    assert result["overall"]["made_up"] + result["overall"]["invalid"] + result["overall"]["name"] >= 0
    model = tmp_path / "tiny.pt"
    bot.save(model)
    test = tmp_path / "actions_test.jsonl"
    test.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    out = tmp_path / "scores.json"
    assert main(["--model", str(model), "--test", str(test), "--json", str(out), "--limit", "4"]) == 0
    numbers = json.loads(out.read_text())
    assert numbers["overall"]["n"] == 4 and "per_group" in numbers
    assert "overall" in capsys.readouterr().out
