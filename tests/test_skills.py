"""Every skill through `Skills.run`, on a temporary SQLite file and a fake clock (Monday 7 Dec 2026, 8:42 PM, Paris)."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from assistant.memory import Memory
from assistant.skills import FiredTimer, SkillContext, SkillResult, Skills
from dialogue.actions import ACTIONS, Action, parse_action

ZONE = ZoneInfo("Europe/Paris")
START = dt.datetime(2026, 12, 7, 20, 42, tzinfo=ZONE).timestamp()


class Clock:
    """A fake clock the test moves by hand."""

    def __init__(self, t: float = START):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def memory(tmp_path):
    with Memory(tmp_path / "a.db") as mem:
        yield mem


@pytest.fixture
def skills(memory, clock):
    return Skills(memory, timezone="Europe/Paris", now=clock)


def run(skills, markup, **ctx):
    ctx.setdefault("conversation_id", "c1")
    ctx.setdefault("request", "")
    return skills.run(parse_action(markup), SkillContext(**ctx))


def say(skills, markup, **ctx):
    return run(skills, markup, **ctx).text


# ---- the interface ----------------------------------------------------------------------------

def test_every_action_has_a_skill_and_returns_a_result(skills):
    for name in ACTIONS:
        args = {"topic": "weather", "fact": "name", "value": "anna", "date": "christmas"}
        required = ACTIONS[name][0]
        result = skills.run(Action(name, {k: args[k] for k in required}), SkillContext("c1"))
        assert isinstance(result, SkillResult) and result.text, name


def test_callers_mistakes_raise_value_error(skills, memory):
    ctx = SkillContext("c1")
    with pytest.raises(ValueError, match="unknown action 'weather.get'"):
        skills.run(Action("weather.get"), ctx)
    with pytest.raises(ValueError, match="Action"):
        skills.run("<clock.time>", ctx)
    with pytest.raises(ValueError, match="SkillContext"):
        skills.run(Action("clock.time"), {"conversation_id": "c1"})
    with pytest.raises(ValueError, match="strings"):
        skills.run(Action("timer.set", {"duration": 300}), ctx)
    with pytest.raises(ValueError, match="time zone"):
        Skills(memory, timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="no timer"):
        skills.mark_delivered(12345)


def test_describe_lists_real_skills_and_help_uses_it(skills):
    described = skills.describe()
    assert any("timer" in d for d in described) and any("list" in d for d in described)
    text = say(skills, "<assistant.help>")
    assert all(d in text for d in described)
    assert "offline" in say(skills, "<assistant.about>")


# ---- clock and calendar -----------------------------------------------------------------------

@pytest.mark.parametrize("markup,text", [
    ("<clock.time>", "It's 8:42 PM."),
    ("<clock.time> <place> new york", "It's 2:42 PM in New York."),
    ("<clock.time> <place> tokyo", "It's 4:42 AM in Tokyo, where it's already Tuesday."),
    ("<clock.time> <place> narnia", "I don't know the time zone of narnia."),
    ("<clock.date>", "Today is Monday, December 7, 2026."),
    ("<clock.date> <place> sydney", "In Sydney it's Tuesday, December 8, 2026."),
    ("<clock.weekday>", "Today is Monday."),
    ("<clock.weekday> <date> tomorrow", "Tomorrow is Tuesday."),
    ("<clock.weekday> <date> christmas", "Christmas, December 25, 2026, is a Friday."),
    ("<clock.weekday> <date> march fifth", "March 5, 2027 is a Friday."),
    ("<clock.weekday> <date> friday", "Friday is December 11."),
    ("<clock.until> <date> christmas", "Christmas is in 18 days."),
    ("<clock.until> <date> new year", "New Year is in 25 days."),
    ("<clock.until> <date> the twentieth of july", "July 20 is in 225 days."),
    ("<clock.until> <date> tomorrow", "Tomorrow is tomorrow."),
    ("<clock.until> <date> purple", 'Sorry, I didn\'t catch which date you mean by "purple".'),
])
def test_clock(skills, markup, text):
    assert say(skills, markup) == text


def test_clock_follows_the_configured_zone(memory, clock):
    assert say(Skills(memory, timezone="America/New_York", now=clock), "<clock.time>") == "It's 2:42 PM."


# ---- timers -------------------------------------------------------------------------------------

def test_timer_set_list_left_and_fire(skills, clock):
    result = run(skills, "<timer.set> <duration> five minutes")
    assert result.text == "Timer set for 5 minutes."
    assert result.events[0]["type"] == "timer.set" and result.events[0]["duration"] == 300
    assert say(skills, "<timer.set> <duration> an hour and a half <label> roast") == "Roast timer set for 1 hour and 30 minutes."
    clock.t += 108
    assert say(skills, "<timer.left> <label> the five minute") == \
        "There's 3 minutes and 12 seconds left on your 5 minute timer."
    assert say(skills, "<timer.left>") == ("Your 5 minute timer has 3 minutes and 12 seconds left and "
                                           "your roast timer has 1 hour and 28 minutes left.")
    assert say(skills, "<timer.list>").startswith("You have 2 timers: the 5 minute timer, with 3 minutes")
    assert skills.due() == []
    clock.t += 200
    fired = skills.due()
    assert [(f.kind, f.duration) for f in fired] == [("timer", 300)]
    assert skills.due() == []  # each fires once
    event = skills.event(fired[0], late=False)
    assert event == {"type": "timer.fired", "timer_id": fired[0].id, "kind": "timer", "label": None,
                     "due_at": "2026-12-07T20:47:00+01:00", "late": False, "text": "Your 5 minute timer is done."}
    assert skills.event(fired[0], late=True)["text"] == "Your 5 minute timer finished at 8:47 PM."
    assert say(skills, "<timer.list>").startswith("You have one timer: the roast timer")


@pytest.mark.parametrize("markup,text", [
    ("<timer.set>", "How long should the timer be?"),
    ("<timer.set> <label> eggs", "How long should the eggs timer be?"),
    ("<timer.set> <duration> five", 'Sorry, I didn\'t catch how long: "five". How long should the timer be?'),
    ("<timer.set> <duration> three days", "I can set timers of up to 24 hours. For longer, ask me for an alarm."),
    ("<timer.left>", "You have no timers running."),
    ("<timer.cancel>", "You have no timers to cancel."),
    ("<timer.list>", "You have no timers running."),
])
def test_timer_questions(skills, markup, text):
    assert say(skills, markup) == text


def test_timer_cancel_asks_which_then_yes_cancels(skills):
    run(skills, "<timer.set> <duration> five minutes")
    run(skills, "<timer.set> <duration> ten minutes")
    asked = run(skills, "<timer.cancel>")
    assert asked.text == "You have 2 timers. Shall I cancel the 10 minute timer?"
    assert asked.pending.name == "timer.cancel"
    assert parse_action(str(asked.pending)) == asked.pending  # the pending action survives being stored as markup
    no = run(skills, "<conv.no>", pending=asked.pending)
    assert no.text == "Okay, I won't." and no.pending is None
    yes = run(skills, "<conv.yes>", pending=asked.pending)
    assert yes.text == "Cancelled your 10 minute timer."
    assert yes.events == [{"type": "timer.cancelled", "timer_id": int(asked.pending.args["which"][1:])}]
    assert run(skills, "<conv.yes>", pending=asked.pending).text == "That timer isn't running any more."
    assert say(skills, "<timer.list>").startswith("You have one timer: the 5 minute timer")


def test_timer_cancel_by_label_duration_and_all(skills):
    run(skills, "<timer.set> <duration> five minutes <label> pasta")
    run(skills, "<timer.set> <duration> five minutes")
    run(skills, "<timer.set> <duration> 2 minutes 30 seconds")
    assert say(skills, "<timer.cancel> <which> the pasta") == "Cancelled your pasta timer."
    assert say(skills, "<timer.cancel> <which> the two and a half minute") == "Cancelled your 2 minute 30 second timer."
    assert say(skills, "<timer.cancel> <which> eggs") == "You don't have an eggs timer running."
    assert say(skills, "<timer.left> <label> tea") == "You don't have a tea timer running."
    run(skills, "<timer.set> <duration> a minute")
    assert say(skills, "<timer.cancel> <which> all") == "Cancelled your 2 timers."
    assert skills.due(now=START + 10_000) == []  # cancelled timers never fire


def test_timers_survive_a_restart(tmp_path, clock):
    path = tmp_path / "a.db"
    with Memory(path) as mem:
        Skills(mem, "Europe/Paris", clock).run(Action("timer.set", {"duration": "ninety seconds", "label": "tea"}),
                                               SkillContext("c1"))
    clock.t += 30
    with Memory(path) as mem:
        skills = Skills(mem, "Europe/Paris", clock)
        assert say(skills, "<timer.left>") == "There's 1 minute left on your tea timer."
        clock.t += 600  # the assistant was down when it was due: it fires on the first check
        fired = skills.due()
        assert [(f.label, f.conversation_id) for f in fired] == [("tea", "c1")]
    with Memory(path) as mem:  # fired while no one listened: still owed to the conversation
        skills = Skills(mem, "Europe/Paris", clock)
        assert [f.label for f in skills.undelivered("c1")] == ["tea"]
        assert skills.undelivered("other") == []
        assert skills.event(skills.undelivered("c1")[0], late=True)["text"] == "Your tea timer finished at 8:43 PM."
        skills.mark_delivered(fired[0].id)
        skills.mark_delivered(fired[0].id)  # idempotent
        assert skills.undelivered("c1") == []


def test_due_hands_each_timer_out_once_across_two_stores(tmp_path, clock):
    """Two Memory objects on one file (a server and a CLI): the transaction makes firing atomic."""
    path = tmp_path / "a.db"
    with Memory(path) as a, Memory(path) as b:
        first, second = Skills(a, "UTC", clock), Skills(b, "UTC", clock)
        for n in range(3):
            run(first, f"<timer.set> <duration> {n + 1} seconds")
        fired = first.due(now=START + 10) + second.due(now=START + 10)
        assert sorted(f.id for f in fired) == [1, 2, 3]
        assert all(isinstance(f, FiredTimer) for f in fired)


# ---- alarms and reminders ---------------------------------------------------------------------

@pytest.mark.parametrize("markup,text", [
    ("<alarm.set> <time> seven thirty am", "Alarm set for 7:30 AM tomorrow."),
    ("<alarm.set> <time> nine", "Alarm set for 9:00 PM today."),  # the next nine o'clock
    ("<alarm.set> <time> quarter to eight", "Alarm set for 7:45 AM tomorrow."),
    ("<alarm.set> <time> noon <date> friday", "Alarm set for 12:00 PM on Friday."),
    ("<alarm.set> <time> five pm <date> march fifth", "Alarm set for 5:00 PM on March 5, 2027."),
    ("<alarm.set> <time> six <label> call my mom", "I'll remind you to call your mom at 6:00 AM tomorrow."),
    ("<alarm.set> <time> in ten minutes <label> to check the oven", "I'll remind you to check the oven at 8:52 PM today."),
    ("<alarm.set>", "What time should I set the alarm for?"),
    ("<alarm.set> <label> call mom", "When should I remind you to call mom?"),
    ("<alarm.set> <time> purple", 'Sorry, I didn\'t catch the time "purple". What time should it be?'),
    ("<alarm.set> <time> six pm <date> yesterday", "That time has already passed. When should it be?"),
    # the date's part of the day settles an hour said without am or pm
    ("<alarm.set> <time> six <date> tomorrow morning", "Alarm set for 6:00 AM tomorrow."),
    ("<alarm.set> <time> eight <date> friday evening", "Alarm set for 8:00 PM on Friday."),
    ("<alarm.set> <time> seven am <date> tomorrows", "Alarm set for 7:00 AM tomorrow."),
    ("<alarm.list>", "You have no alarms or reminders set."),
    ("<alarm.cancel>", "You have no alarms to cancel."),
])
def test_alarm_set(skills, markup, text):
    assert say(skills, markup) == text


def test_alarm_and_reminder_fire(skills, clock):
    run(skills, "<alarm.set> <time> seven thirty am")
    run(skills, "<alarm.set> <time> 9 pm <label> call mom")
    assert say(skills, "<alarm.list>") == ("You have 1 alarm and 1 reminder: 9:00 PM today, to call mom; "
                                           "7:30 AM tomorrow.")
    clock.t = dt.datetime(2026, 12, 7, 21, 0, 5, tzinfo=ZONE).timestamp()
    (reminder,) = skills.due()
    assert skills.event(reminder, late=False)["text"] == "Reminder: call mom."
    assert skills.event(reminder, late=True)["text"] == "Reminder from 9:00 PM: call mom."
    clock.t = dt.datetime(2026, 12, 8, 7, 30, tzinfo=ZONE).timestamp()
    (alarm,) = skills.due()
    event = skills.event(alarm, late=False)
    assert (event["kind"], event["due_at"], event["text"]) == ("alarm", "2026-12-08T07:30:00+01:00",
                                                               "It's 7:30 AM: your alarm.")


def test_alarm_cancel(skills):
    run(skills, "<alarm.set> <time> seven thirty am")
    run(skills, "<alarm.set> <time> seven thirty pm <date> friday")
    run(skills, "<alarm.set> <time> six am")
    assert say(skills, "<alarm.cancel> <time> six") == "Cancelled your alarm for 6:00 AM tomorrow."
    asked = run(skills, "<alarm.cancel> <time> seven thirty")
    assert asked.text == "You have 2 alarms. Shall I cancel the one for 7:30 AM tomorrow?"
    assert run(skills, "<conv.yes>", pending=asked.pending).text == "Cancelled your alarm for 7:30 AM tomorrow."
    assert say(skills, "<alarm.cancel> <time> ten") == "I couldn't find an alarm at that time."
    assert say(skills, "<alarm.cancel> <time> all") == "Cancelled your alarm."


# ---- arithmetic ---------------------------------------------------------------------------------

@pytest.mark.parametrize("markup,request_,text", [
    ("<calc> <expr> seventeen times four", "", "Seventeen times four is 68."),
    ("<calc>", "what is two plus three?", "Two plus three is 5."),
    ("<calc> <expr> a third of ninety", "", "A third of ninety is 30."),
    ("<calc> <expr> twenty percent of eighty", "", "Twenty percent of eighty is 16."),
    ("<calc> <expr> square root of eighty one", "", "Square root of eighty one is 9."),
    ("<calc> <expr> ten divided by three", "", "Ten divided by three is 3.33."),
    ("<calc> <expr> five miles in kilometres", "", "5 miles is 8.05 kilometres."),
    ("<calc> <expr> ten degrees celsius in fahrenheit", "", "10 degrees Celsius is 50 degrees Fahrenheit."),
    ("<calc> <expr> three cups in millilitres", "", "3 cups is 709.76 millilitres."),
    ("<calc> <expr> two hundred grams in ounces", "", "200 grams is 7.05 ounces."),
    ("<calc>", "how many ounces are in two hundred grams", "200 grams is 7.05 ounces."),
    ("<calc> <expr> a mile in kilometres", "", "1 mile is 1.61 kilometres."),
    ("<calc> <expr> five miles in kilograms", "", "I can't convert miles to kilograms: they measure different things."),
    ("<calc> <expr> ten divided by zero", "", "I can't divide by zero."),
    ("<calc> <expr> banana split", "", 'I don\'t know how to calculate with "banana".'),
    ("<calc>", "", "What would you like me to calculate?"),
])
def test_calc(skills, markup, request_, text):
    assert say(skills, markup, request=request_) == text


# ---- lists ----------------------------------------------------------------------------------------

def test_lists_per_owner(skills):
    assert say(skills, "<list.add> <item> milk <list> my shopping list") == "Added milk to your shopping list."
    assert say(skills, "<list.add> <item> eggs and bread <list> groceries") == "Added eggs and bread to your shopping list."
    assert say(skills, "<list.add> <item> some milk <list> shopping") == "Milk is already on your shopping list."
    assert say(skills, "<list.read> <list> shopping") == "Your shopping list has milk, eggs and bread."
    assert say(skills, "<list.remove> <item> bread <list> shopping") == "Removed bread from your shopping list."
    assert say(skills, "<list.remove> <item> cheese <list> shopping") == "Cheese isn't on your shopping list."
    assert say(skills, "<list.read> <list> shopping", owner="bob") == "Your shopping list is empty."
    assert say(skills, "<list.add> <item> call the plumber") == "Added call the plumber to your to-do list."
    assert say(skills, "<list.read> <list> my to do list") == "Your to-do list has call the plumber."
    assert say(skills, "<list.add> <list> shopping") == "What should I add to your shopping list?"
    assert say(skills, "<list.clear> <list> shopping") == "Cleared your shopping list (2 items)."
    assert say(skills, "<list.clear> <list> shopping") == "Your shopping list is already empty."
    assert say(skills, "<list.read> <list> to-do") == "Your to-do list has call the plumber."


# ---- the user -------------------------------------------------------------------------------------

def test_user_facts(skills, tmp_path, clock):
    assert say(skills, "<user.get> <fact> name") == "You haven't told me your name yet."
    assert say(skills, "<user.get> <fact> where i live") == "You haven't told me where you live yet."
    assert say(skills, "<user.set> <fact> name <value> anna") == "Nice to meet you, Anna."
    assert say(skills, "<user.get> <fact> my name") == "Your name is Anna."
    assert say(skills, "<user.set> <fact> home <value> lyon") == "Got it, you live in Lyon."
    assert say(skills, "<user.get> <fact> home") == "You told me you live in Lyon."
    assert say(skills, "<user.set> <fact> job <value> engineer") == "Got it, you work as an engineer."
    assert say(skills, "<user.set> <fact> age <value> thirty two") == "Got it, you're 32."
    assert say(skills, "<user.set> <fact> birthday <value> the fifth of march") == "Got it, your birthday is March 5."
    assert say(skills, "<user.set> <fact> favorite color <value> green") == \
        "I'll remember that your favourite colour is green."
    assert say(skills, "<user.get> <fact> favourite colour") == "You told me your favourite colour is green."
    assert say(skills, "<user.set> <fact> name <value> anne marie") == "Nice to meet you, Anne Marie."
    assert say(skills, "<user.get> <fact> name", owner="bob") == "You haven't told me your name yet."
    assert say(skills, "<user.get> <fact> everything").startswith("Your name is Anne Marie. You told me you live in Lyon.")


# ---- the conversation and capabilities --------------------------------------------------------------

def test_conversation(skills):
    assert say(skills, "<conv.repeat>") == "I haven't said anything yet."
    assert say(skills, "<conv.repeat>", last_reply="It's 8:42 PM.") == "It's 8:42 PM."
    assert say(skills, "<conv.recall>", last_user="set a timer") == "You said: set a timer"
    assert say(skills, "<conv.recall>") == "You haven't said anything before this."
    stop = run(skills, "<conv.stop>", pending=Action("timer.cancel", {"which": "all"}))
    assert (stop.text, stop.stop, stop.pending) == ("Okay.", True, None)
    assert say(skills, "<conv.yes>") == "Okay."
    assert say(skills, "<conv.no>") == "Alright."


@pytest.mark.parametrize("topic", ["weather", "news", "music", "email", "shopping", "lights", "smart home", "calendar",
                                   "taxi", "traffic", "stocks", "currency", "definitions", "facts", "recipes",
                                   "social media", "games", "audiobooks", "podcasts", "radio", "volume",
                                   "recommendations", "contacts", "quantum physics"])
def test_cannot_is_honest_and_stable(skills, topic):
    text = say(skills, f"<cannot> <topic> {topic}", request=f"please do {topic}")
    assert text == say(skills, f"<cannot> <topic> {topic}", request=f"please do {topic}")
    assert "can't" in text or "not able" in text or "beyond" in text
    assert not any(ch.isdigit() for ch in text)  # no invented figures


def test_cannot_phrasings_vary_with_the_request(skills):
    texts = {say(skills, "<cannot> <topic> weather", request=f"what's the weather {n}") for n in range(12)}
    assert len(texts) > 1
    assert all("weather" in t for t in texts)
