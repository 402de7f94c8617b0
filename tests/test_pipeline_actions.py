"""The reply model's actions through the pipeline: a tiny model that has memorised a few requests and their
markup, real skills on a temporary SQLite file and a fake clock, timers that fire and are delivered late."""
import functools
import time

import pytest

from assistant import Assistant, AssistantConfig, Memory
from assistant.skills import Skills

PAIRS = (
    ("what time is it", "<clock.time>"),
    ("set a timer for five minutes", "<timer.set> <duration> five minutes"),
    ("my name is anna", "<user.set> <fact> name <value> anna"),
    ("what is my name", "<user.get> <fact> name"),
    ("what is seventeen times four", "<calc> <expr> seventeen times four"),
    ("hello there", "Hi, nice to see you."),
    ("blue bananas dance", "<duration> five minutes"),  # a tag that is not an action: the model slipped
)
START = 1_796_000_000.0  # 2026-11-30 (a fixed "now" for the skills)


class Clock:
    def __init__(self, t: float = START):
        self.t = t

    def __call__(self) -> float:
        return self.t


@functools.lru_cache(maxsize=None)
def action_responder():
    from dialogue import DecodingOptions
    from dialogue.testing import overfit_responder

    return overfit_responder(PAIRS, steps=300, options=DecodingOptions(strategy="greedy", max_length=16))


def make(db_path, clock):
    from tests.test_pipeline import untrained_recognizer

    memory = Memory(db_path)
    assistant = Assistant(AssistantConfig(db_path=str(db_path), timezone="UTC"), untrained_recognizer(),
                          action_responder(), memory)
    assistant.skills = Skills(memory, timezone="UTC", now=clock)
    return assistant


def say(session, text):
    events = list(session.respond(text).events())
    return events, next(e for e in events if e["type"] == "reply.done")["text"]


def test_the_model_memorised_its_markup():
    bot = action_responder()
    for prompt, reply in PAIRS:
        assert bot.reply([], prompt) == reply


def test_action_reply_carries_the_skills_values(tmp_path):
    clock = Clock()
    assistant = make(tmp_path / "a.db", clock)
    session = assistant.open_session()
    events, text = say(session, "what time is it")
    action = next(e for e in events if e["type"] == "reply.action")
    assert action["action"] == "clock.time" and action["args"] == {}
    assert "<" not in text and ("AM" in text or "PM" in text)
    deltas = "".join(e["text"] for e in events if e["type"] == "reply.delta")
    assert deltas == text
    stored = assistant.memory.export_conversation(session.conversation_id)["turns"]
    assert [t["text"] for t in stored] == ["what time is it", text]

    _, text = say(session, "what is seventeen times four")
    assert "68" in text
    _, chat = say(assistant.open_session(), "hello there")  # the tiny model knows no history
    assert chat == "Hi, nice to see you."
    assistant.close()


def test_user_facts_survive_a_resumed_conversation(tmp_path):
    clock = Clock()
    assistant = make(tmp_path / "a.db", clock)
    first = assistant.open_session()
    say(first, "my name is anna")
    first.close()
    again = assistant.open_session(first.conversation_id)
    _, text = say(again, "what is my name")
    assert "Anna" in text
    assistant.close()


def test_timer_fires_to_its_conversation_or_later_marked_late(tmp_path):
    clock = Clock()
    assistant = make(tmp_path / "a.db", clock)
    session = assistant.open_session()
    events, text = say(session, "set a timer for five minutes")
    assert "5 minute" in text or "five minute" in text.lower()
    assert assistant.due_timer_events() == []
    clock.t += 301
    due = assistant.due_timer_events()
    assert len(due) == 1
    conversation_id, fired = due[0]
    assert conversation_id == session.conversation_id
    assert fired["type"] == "timer.fired" and fired["kind"] == "timer" and fired["late"] is False
    assert assistant.due_timer_events() == []  # each fires once

    # nobody took it (no delivered() call): a resumed session gets it, marked late, once
    session.close()
    assistant.close()
    assistant = make(tmp_path / "a.db", clock)  # a restart keeps it
    resumed = assistant.open_session(conversation_id)
    late = resumed.late_timer_events()
    assert [e["type"] for e in late] == ["timer.fired"] and late[0]["late"] is True
    assert late[0]["timer_id"] == fired["timer_id"]
    assert resumed.late_timer_events() == []
    assistant.close()


def test_delivered_timer_is_not_repeated_on_resume(tmp_path):
    clock = Clock()
    assistant = make(tmp_path / "a.db", clock)
    session = assistant.open_session()
    say(session, "set a timer for five minutes")
    clock.t += 400
    [(conversation_id, fired)] = assistant.due_timer_events()
    assistant.delivered(fired)
    session.close()
    assert assistant.open_session(conversation_id).late_timer_events() == []
    assistant.close()


def test_markup_that_is_no_action_gets_an_honest_answer(tmp_path):
    assistant = make(tmp_path / "a.db", Clock())
    session = assistant.open_session()
    events, text = say(session, "blue bananas dance")
    assert text == "Sorry, I didn't understand what to do."
    assert not any(e["type"] in ("reply.action", "error") for e in events)
    assistant.close()


def test_terminal_chat_prints_a_timer_when_it_fires(tmp_path):
    import io

    from assistant.terminal import Chat, LocalBackend, PlainView

    clock = Clock()
    out = io.StringIO()
    backend = LocalBackend(make(tmp_path / "a.db", clock))
    backend.start()
    chat = Chat(backend, PlainView(out))
    chat.run(iter(["set a timer for five minutes"]))
    assert "⏰" not in out.getvalue()
    clock.t += 301
    chat.poll_timers()
    assert "assistant: ⏰" in out.getvalue() and "timer" in out.getvalue().lower()
    backend.close()


def test_server_sends_timer_fired_live_and_late_on_resume(tmp_path):
    from server import ServerOptions, ServerThread
    from tests.test_server import Client

    clock = Clock()
    srv = ServerThread(make(tmp_path / "a.db", clock), ServerOptions(port=0)).start()
    try:
        client = Client(srv.ws_url)
        conversation_id = client.start()["conversation_id"]
        client.send({"type": "text.input", "text": "set a timer for five minutes"})
        events = client.until("reply.done")
        assert any(e["type"] == "reply.action" and e["action"] == "timer.set" for e in events)
        clock.t += 301
        fired = client.until("timer.fired", timeout=10)[-1]
        assert fired["late"] is False and fired["kind"] == "timer"

        # a second timer fires while nobody of the conversation is connected: delivered late on resume
        client.send({"type": "text.input", "text": "set a timer for five minutes"})
        client.until("reply.done")
        client.close()
        time.sleep(0.2)
        clock.t += 301
        time.sleep(1.5)  # the worker looks for due timers every 0.5 s
        again = Client(srv.ws_url)
        again.start(conversation_id=conversation_id)
        late = again.until("timer.fired", timeout=10)[-1]
        assert late["late"] is True and late["timer_id"] != fired["timer_id"]
        again.close()
    finally:
        srv.stop()


def test_timezone_option_is_checked(tmp_path, capsys):
    import io

    from assistant import terminal
    from server import main as server_main
    from tests.test_pipeline import untrained_recognizer

    status = terminal.main(["--db", str(tmp_path / "c.db"), "--timezone", "Mars/Olympus"], stdin=io.StringIO(""),
                           stdout=io.StringIO(), recognizer=untrained_recognizer(), responder=action_responder())
    assert status == 2 and "Mars/Olympus" in capsys.readouterr().err
    assert server_main(["--port", "0", "--timezone", "Mars/Olympus"]) == 2
    assert "not a known IANA time zone" in capsys.readouterr().err
