"""Conversation memory on a real SQLite file: migrations, exchanges, threads, crash safety."""
import json
import sqlite3
import subprocess
import sys
import threading

import pytest

from assistant.memory import SCHEMA_VERSION, AssistantTurn, ConversationNotFound, Memory, UserTurn


@pytest.fixture
def memory(tmp_path):
    with Memory(tmp_path / "a.db") as mem:
        yield mem


def _exchange(mem, cid, n):
    return mem.add_exchange(
        cid,
        UserTurn(f"question {n}", source="voice", utterance_id=f"u{n}", audio_seconds=1.5, asr_confidence=0.8,
                 asr_words=[{"word": "question", "start": 0.1, "end": 0.5, "confidence": 0.9}]),
        AssistantTurn(f"answer {n}", "eos", reply_id=f"r{n}", confidence=-0.7,
                      latencies={"endpoint_to_final_ms": 40.0, "final_to_first_token_ms": 12.5}),
    )


def test_migrations_applied_once_with_wal(tmp_path):
    path = tmp_path / "sub" / "dir" / "a.db"  # parent folders are created
    with Memory(path) as mem:
        assert mem.schema_version == SCHEMA_VERSION
        assert mem.db.journal_mode == "wal"
        assert {"conversations", "turns", "schema_migrations"} <= set(mem.db.table_names())
    with Memory(path) as mem:  # reopening applies nothing twice
        rows = list(mem.db["schema_migrations"].rows)
        assert [r["version"] for r in rows] == list(range(1, SCHEMA_VERSION + 1))


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "a.db"
    Memory(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        Memory(path)


def test_exchange_round_trip_and_export(memory):
    cid = memory.create_conversation(title="kitchen")
    _exchange(memory, cid, 1)
    _exchange(memory, cid, 2)
    assert memory.history(cid, limit=3) == ["answer 1", "question 2", "answer 2"]
    exported = memory.export_conversation(cid)
    json.dumps(exported)  # JSON-able
    assert exported["conversation"]["id"] == cid and exported["conversation"]["turn_count"] == 4
    turns = exported["turns"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert [t["exchange"] for t in turns] == [1, 1, 2, 2]
    assert turns[0]["asr_words"][0]["word"] == "question" and turns[0]["audio_seconds"] == 1.5
    assert turns[1]["finish_reason"] == "eos" and turns[1]["latencies"]["final_to_first_token_ms"] == 12.5
    assert memory.check_integrity() == []


def test_unknown_conversation(memory):
    with pytest.raises(ConversationNotFound):
        memory.export_conversation("nope")
    with pytest.raises(ConversationNotFound):
        memory.add_exchange("nope", UserTurn("a"), AssistantTurn("b", "eos"), create=False)
    assert memory.history("nope") == []
    memory.add_exchange("fresh", UserTurn("hello there"), AssistantTurn("hi", "eos"))  # created on first exchange
    assert memory.get_conversation("fresh")["title"] == "hello there"


def test_list_conversations_most_recent_first(memory):
    first = memory.create_conversation()
    second = memory.create_conversation()
    _exchange(memory, first, 1)  # first is now the most recently updated
    assert [c["id"] for c in memory.list_conversations()] == [first]  # second has no turns
    listed = memory.list_conversations(include_empty=True)
    assert [c["id"] for c in listed] == [first, second]
    assert listed[0]["turn_count"] == 2 and listed[0]["last_text"] == "answer 1"
    assert listed[1]["turn_count"] == 0 and listed[1]["last_text"] is None
    assert memory.list_conversations(limit=1, offset=1, include_empty=True)[0]["id"] == second
    with pytest.raises(ValueError):
        memory.list_conversations(limit=0)


def test_failed_exchange_leaves_nothing(memory):
    cid = memory.create_conversation()
    with pytest.raises(sqlite3.IntegrityError):  # NOT NULL text on the assistant turn fails the second insert
        memory.add_exchange(cid, UserTurn("kept?"), AssistantTurn(None, "eos"))
    assert memory.recent_turns(cid) == []
    assert memory.check_integrity() == []


def test_threads_share_one_memory(memory):
    cid = memory.create_conversation()
    errors = []

    def worker(k):
        try:
            for n in range(10):
                _exchange(memory, cid, k * 100 + n)
                memory.history(cid)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert memory.get_conversation(cid)["turn_count"] == 80
    assert sorted({t["exchange"] for t in memory.export_conversation(cid)["turns"]}) == list(range(1, 41))
    assert memory.check_integrity() == []


def test_killed_writer_never_leaves_half_an_exchange(tmp_path):
    """A process killed in the middle of an exchange transaction leaves only whole exchanges."""
    path = tmp_path / "a.db"
    script = f"""
import os, signal
from assistant.memory import Memory, UserTurn, AssistantTurn
mem = Memory({str(path)!r})
mem.add_exchange("c", UserTurn("one"), AssistantTurn("two", "eos"))
with mem._transaction() as db:  # what add_exchange does, killed between the two inserts
    db.execute("INSERT INTO turns (conversation_id, exchange, role, text, created_at) VALUES ('c', 2, 'user', 'half', 'x')")
    os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == -9, result.stderr.decode()
    with Memory(path) as mem:
        assert mem.history("c") == ["one", "two"]
        assert mem.check_integrity() == []
