"""Action training data: targets parse and copy the request, splits are disjoint, noise keeps copies, HWU64 mapping."""

import json
import random

import pytest

from dialogue.actions import ACTIONS, parse_action
from dialogue.intents import (CHAT_INTENTS, FACTS, TOPICS, build_action_pairs, copy_violations, generated_pairs,
                              hwu64_pairs, hwu64_target, noisy_test, number_words, read_hwu64, speechify,
                              split_by_prompt, value_is_copied, CORE_REQUESTS)
from dialogue.text import normalize_input

# one or more rows per HWU64 intent, shaped like ../shared/data/dialogue/hwu64/hwu64.jsonl
_ROWS = [
    ("wake me up at seven am tomorrow", "alarm_set", [("time", "seven am"), ("date", "tomorrow")]),
    ("set an alarm", "alarm_set", []),
    ("what alarms do i have", "alarm_query", []),
    ("cancel my eight am alarm", "alarm_remove", [("time", "eight am")]),
    ("what time is it in london", "datetime_query", [("place_name", "london")]),
    ("what's the date today", "datetime_query", [("date", "today")]),
    ("what day of the week is march fifth", "datetime_query", [("date", "march fifth")]),
    ("what is the time difference between here and japan", "datetime_convert", [("place_name", "japan")]),
    ("convert nine am cst to est", "datetime_convert", [("time", "nine am"), ("place_name", "cst"), ("place_name", "est")]),
    ("what is twelve times eight", "qa_maths", []),
    ("do you know math", "qa_maths", []),
    ("calculate two plus 29", "qa_maths", []),
    ("add milk to my shopping list", "lists_createoradd", [("list_name", "shopping")]),
    ("what's on my to do list", "lists_query", [("list_name", "to do")]),
    ("remove apples from my shopping list", "lists_remove", [("list_name", "shopping")]),
    ("delete my grocery list", "lists_remove", [("list_name", "grocery")]),
    ("olly could you repeat that.", "general_repeat", []),
    ("olly stop it.", "general_commandstop", []),
    ("yes that's correct.", "general_affirm", []),
    ("please check my last instruction.", "general_confirm", []),
    ("that wasn't right.", "general_negate", []),
    ("tell me a joke about cats", "general_joke", [("joke_type", "cats")]),
    ("great job, thanks.", "general_praise", []),
    ("you are weird", "general_quirky", []),
    ("i don't care", "general_dontcare", []),
    ("what do you mean", "general_explain", []),
    ("remind me to call mum at five pm", "calendar_set", [("event_name", "call mum"), ("time", "five pm")]),
]
_CANNOT_INTENTS = """audio_volume_down audio_volume_mute audio_volume_up calendar_query calendar_remove calendar_set
cooking_recipe email_addcontact email_query email_querycontact email_sendemail iot_cleaning iot_coffee
iot_hue_lightchange iot_hue_lightdim iot_hue_lightoff iot_hue_lighton iot_hue_lightup iot_wemo_off iot_wemo_on
music_likeness music_query music_settings news_query play_audiobook play_game play_music play_podcasts play_radio
qa_currency qa_definition qa_factoid qa_stock recommendation_events recommendation_locations recommendation_movies
social_post social_query takeaway_order takeaway_query transport_query transport_taxi transport_ticket
transport_traffic weather_query""".split()
ALL_INTENTS = sorted({r[1] for r in _ROWS} | set(_CANNOT_INTENTS))


def _row(text, intent, slots):
    out = []
    for slot, value in slots:
        start = text.index(value)
        out.append({"slot": slot, "value": value, "start": start, "end": start + len(value)})
    return {"text": text, "intent": intent, "slots": out}


@pytest.fixture(scope="module")
def hwu_file(tmp_path_factory):
    rows = [_row(*r) for r in _ROWS] + [_row(f"please handle request number {i} about {intent.replace('_', ' ')}", intent, [])
                                        for intent in _CANNOT_INTENTS for i in ("one", "two")]
    path = tmp_path_factory.mktemp("hwu64") / "hwu64.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(hwu_file):
    return build_action_pairs(hwu_file.parent, seed=3, scale=0.05)


def test_number_words():
    assert number_words(0) == "zero"
    assert number_words(17) == "seventeen"
    assert number_words(90) == "ninety"
    assert number_words(365) == "three hundred and sixty five"
    assert number_words(2500) == "two thousand five hundred"
    assert number_words(1007) == "one thousand and seven"
    assert not any(ch.isdigit() for n in range(0, 5000, 37) for ch in number_words(n))


def test_every_target_parses_and_copies(built):
    train, valid, test = built
    assert train and valid and test
    names = set()
    for p in train + valid + test:
        assert set(p) >= {"prompt", "reply", "context", "source", "intent"}
        assert copy_violations(p) == [], p
        action = parse_action(p["reply"])
        if action is None:
            assert p["intent"] == "chat" and p["reply"][0].isupper()
            continue
        names.add(action.name)
        assert p["intent"] == action.name
        assert p["prompt"] == normalize_input(p["prompt"]) and not any(ch.isdigit() for ch in p["prompt"])
        for key, value in action.args.items():
            if key == "fact":
                assert value in FACTS or value.startswith("favourite ")
            if key == "topic":
                assert value in TOPICS
    assert names == set(ACTIONS)  # every action is taught


def test_generated_part_needs_no_hwu64():
    pairs = generated_pairs(seed=1, scale=0.05)
    assert pairs and all(p["source"].startswith("gen/") for p in pairs)
    assert all(copy_violations(p) == [] for p in pairs)
    assert any(p["context"] for p in pairs)
    train, valid, test = build_action_pairs(None, seed=1, scale=0.05)
    assert train and valid and test and all(p["source"].startswith("gen/") for p in train + valid + test)


def test_build_is_deterministic(hwu_file):
    a = build_action_pairs(hwu_file, seed=5, scale=0.03)
    b = build_action_pairs(hwu_file, seed=5, scale=0.03)
    assert a == b


def test_splits_are_disjoint_by_prompt(built):
    train, valid, test = built
    sets = [{normalize_input(p["prompt"]) for p in split} for split in (train, valid, test)]
    assert not sets[0] & sets[1] and not sets[0] & sets[2] and not sets[1] & sets[2]
    noisy = noisy_test(test, seed=3, train=train)
    assert len(noisy) == len(test)
    assert not {normalize_input(p["prompt"]) for p in noisy} & sets[0]
    assert all(copy_violations(p) == [] for p in noisy)


def test_split_by_prompt_keeps_a_prompt_together():
    pairs = [{"prompt": f"p{i % 40}", "reply": "x", "context": [], "source": "s", "intent": "chat"} for i in range(200)]
    train, valid, test = split_by_prompt(pairs, seed=0)
    assert len(train) + len(valid) + len(test) == 200
    assert not {p["prompt"] for p in train} & {p["prompt"] for p in test}


def test_split_by_prompt_is_stable_when_other_requests_change():
    """New or regenerated requests never move an existing prompt to another side of the split."""
    def sides(pairs):
        train, valid, test = split_by_prompt(pairs, seed=0)
        return {p["prompt"]: name for name, part in (("train", train), ("valid", valid), ("test", test)) for p in part}

    base = [{"prompt": f"request {i}", "reply": "x", "context": [], "source": "s", "intent": "chat"} for i in range(600)]
    more = base[::2] + [{**base[0], "prompt": f"other {i}"} for i in range(900)]
    before, after = sides(base), sides(more)
    assert all(after[k] == v for k, v in before.items() if k in after)
    assert 0.1 < sum(v == "test" for v in before.values()) / len(before) < 0.2


def test_noise_never_breaks_a_copy():
    rng = random.Random(0)
    pairs = generated_pairs(seed=2, scale=0.05)
    changed = 0
    for p in pairs:
        action = parse_action(p["reply"])
        values = [v for k, v in action.args.items() if k not in ("fact", "topic")]
        for _ in range(3):
            noisy = speechify(p["prompt"], rng, values, p_drop=0.9, p_swap=0.9, p_filler=0.5)
            assert noisy == normalize_input(noisy)
            changed += noisy != p["prompt"]
            for key, value in action.args.items():
                assert value_is_copied(noisy, key, value), (p, noisy)
    assert changed > len(pairs)  # the noise does something


def test_speechify_examples():
    rng = random.Random(4)
    outs = {speechify("Set a timer for five minutes, please!", rng, ["five minutes"]) for _ in range(60)}
    assert all("five minutes" in o for o in outs)
    assert len(outs) > 3
    assert all("," not in o and "!" not in o and o == o.lower() for o in outs)
    # "to" and "two" inside a protected value stay as they are
    for _ in range(30):
        assert "two to four" in speechify("add two to four for me", rng, ["two to four"], p_swap=1.0)


def test_hwu64_mapping_covers_every_intent(hwu_file):
    rows = read_hwu64(hwu_file)
    assert {r["intent"] for r in rows} == set(ALL_INTENTS)
    pairs, kept, dropped = hwu64_pairs(rows)
    for intent in ALL_INTENTS:
        assert kept[intent] + dropped[intent] == sum(r["intent"] == intent for r in rows)
        if intent in CHAT_INTENTS:
            assert kept[intent] == 0
        else:
            assert kept[intent] > 0, intent
    by_prompt = {p["prompt"]: p["reply"] for p in pairs}
    assert by_prompt["wake me up at seven am tomorrow"] == "<alarm.set> <time> seven am <date> tomorrow"
    assert by_prompt["set an alarm"] == "<alarm.set>"
    assert by_prompt["cancel my eight am alarm"] == "<alarm.cancel> <time> eight am"
    assert by_prompt["what time is it in london"] == "<clock.time> <place> london"
    assert by_prompt["what's the date today"] == "<clock.date>"
    assert by_prompt["what day of the week is march fifth"] == "<clock.weekday> <date> march fifth"
    assert by_prompt["what is the time difference between here and japan"] == "<clock.time> <place> japan"
    assert by_prompt["what is twelve times eight"] == "<calc> <expr> twelve times eight"
    assert by_prompt["do you know math"] == "<calc>"
    assert by_prompt["add milk to my shopping list"] == "<list.add> <item> milk <list> shopping"
    assert by_prompt["what's on my to do list"] == "<list.read> <list> to do"
    assert by_prompt["remove apples from my shopping list"] == "<list.remove> <item> apples <list> shopping"
    assert by_prompt["delete my grocery list"] == "<list.clear> <list> grocery"
    assert by_prompt["could you repeat that"] == "<conv.repeat>"  # the wake word "olly" is removed
    assert by_prompt["stop it"] == "<conv.stop>"
    assert by_prompt["yes that's correct"] == "<conv.yes>"
    assert by_prompt["that wasn't right"] == "<conv.no>"
    assert by_prompt["remind me to call mum at five pm"] == "<alarm.set> <time> five pm <label> call mum"
    assert parse_action(by_prompt["great job thanks"]) is None
    assert by_prompt["please handle request number one about weather query"] == "<cannot> <topic> weather"
    assert by_prompt["please handle request number one about iot coffee"] == "<cannot> <topic> smart home"
    assert "convert nine am cst to est" not in by_prompt  # a conversion a clock cannot answer: dropped
    assert hwu64_target({"text": "calculate two plus 29", "intent": "qa_maths", "slots": []})[0] is None


@pytest.mark.parametrize("text,slots,reply", [
    ("set an alarm for tomorrow at six in the morning", [("time", "six"), ("date", "tomorrow")],
     "<alarm.set> <time> six in the morning <date> tomorrow"),
    ("set an alarm for one hour from now", [("time", "one hour")], "<alarm.set> <time> one hour from now"),
    ("wake me at eight am next saturday", [("time", "eight am"), ("date", "saturday")],
     "<alarm.set> <time> eight am <date> next saturday"),
    ("remove my alarm for tomorrow morning", [("date", "tomorrow")], "<alarm.cancel> <date> tomorrow morning"),
    ("set an alarm for six pm", [("time", "six pm")], "<alarm.set> <time> six pm"),  # already whole
])
def test_hwu64_times_and_dates_keep_the_words_that_say_when(text, slots, reply):
    intent = "alarm_remove" if text.startswith("remove") else "alarm_set"
    row = {"text": text, "intent": intent, "slots": [{"slot": k, "value": v} for k, v in slots]}
    assert hwu64_target(row)[0] == reply


def test_read_hwu64_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_hwu64(tmp_path / "missing")
    bad = tmp_path / "hwu64.jsonl"
    bad.write_text('{"nope": 1}\n')
    with pytest.raises(ValueError):
        read_hwu64(tmp_path)


def test_value_is_copied():
    assert value_is_copied("set a timer for five minutes", "duration", "five minutes")
    assert not value_is_copied("set a timer for five minutes", "duration", "ten minutes")
    assert not value_is_copied("set a timer for five minutes", "duration", "five timer")
    assert value_is_copied("what's my favorite colour", "fact", "favourite colour")
    assert value_is_copied("turn on the lights", "topic", "smart home")
    assert value_is_copied("cancel every timer", "which", "all")
    assert not value_is_copied("call me bob", "value", "rob")


def test_core_requests_are_always_trained_on():
    pairs = [{"prompt": p, "reply": "x", "context": [], "source": "s", "intent": "chat"} for p in sorted(CORE_REQUESTS)]
    pairs += [{"prompt": f"filler {i}", "reply": "x", "context": [], "source": "s", "intent": "chat"} for i in range(300)]
    train, valid, test = split_by_prompt(pairs, seed=0)
    held = {p["prompt"] for p in valid + test}
    assert held and not held & CORE_REQUESTS
