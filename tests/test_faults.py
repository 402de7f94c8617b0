"""Faults: a damaged database, backups of a live one, a killed server, a database that refuses writes.

Real SQLite files, a real server (in a thread, or `python -m server` in a subprocess for SIGKILL), tiny models.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant import Memory
from assistant.cli import main as cli_main
from assistant.memory import AssistantTurn, UserTurn
from server import DatabaseDamaged, main as server_main
from test_pipeline import make_assistant, untrained_recognizer, untrained_responder
from test_server import VERY_LONG_REPLY, Client, running

ROOT = Path(__file__).resolve().parents[1]


def fill(db: Path, exchanges: int = 50) -> None:
    with Memory(db) as memory:
        cid = memory.create_conversation()
        for i in range(exchanges):
            memory.add_exchange(cid, UserTurn(f"question {i} " + "x" * 200), AssistantTurn(f"answer {i}", "eos"))


def damage(db: Path) -> None:
    """Overwrite the middle of the file (not the header): SQLite opens it but its integrity check fails."""
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.seek(size // 2)
        f.write(b"\xde\xad\xbe\xef" * 1024)


def model_args(tmp_path: Path) -> list[str]:
    speech = tmp_path / "speech.pt"
    dialogue = tmp_path / "dialogue.pt"
    if not speech.exists():
        untrained_recognizer().save(speech)
        untrained_responder().save(dialogue)
    return ["--speech-model", str(speech), "--dialogue-model", str(dialogue)]


def test_server_refuses_to_start_on_a_damaged_database(tmp_path, capsys, caplog):
    db = tmp_path / "a.db"
    fill(db)
    damage(db)
    assert server_main(["--port", "0", "--db", str(db), *model_args(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is damaged" in err and str(db) in err and "backup" in err, err
    assert any("is damaged" in r.getMessage() for r in caplog.records)  # and a log line
    with pytest.raises(DatabaseDamaged):  # the same for a server started in code
        with running(tmp_path):
            pass


def test_server_refuses_a_file_that_is_not_a_database(tmp_path, capsys):
    db = tmp_path / "a.db"
    db.write_bytes(b"this is not an SQLite file at all" * 100)
    assert server_main(["--port", "0", "--db", str(db), *model_args(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot be opened" in err, err


def test_backup_while_another_thread_writes(tmp_path, capsys):
    db = tmp_path / "live.db"
    fill(db, 20)
    stop = threading.Event()
    written = []

    def writer():
        with Memory(db) as memory:
            cid = memory.create_conversation()
            while not stop.is_set():
                memory.add_exchange(cid, UserTurn("q" * 500), AssistantTurn("a" * 500, "eos"))
                written.append(1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            time.sleep(0.01)
        copies = []
        for k in range(3):
            target = tmp_path / "backups" / f"copy{k}.db"
            assert cli_main(["backup", str(target), "--db", str(db)]) == 0
            copies.append(target)
    finally:
        stop.set()
        thread.join()
    out = capsys.readouterr().out
    assert out.count("backed up") == 3
    counts = []
    for target in copies:
        assert not target.with_name(target.name + ".partial").exists()
        with Memory(target) as copy:
            assert copy.check_integrity() == []  # sound, and every exchange whole
            counts.append(copy.stats()["turns"])
    assert counts == sorted(counts) and counts[0] >= 2 * (20 + 20)
    with Memory(db) as memory:
        assert memory.stats()["turns"] >= counts[-1]


def test_backup_errors_are_one_line(tmp_path, capsys):
    assert cli_main(["backup", str(tmp_path / "b.db"), "--db", str(tmp_path / "missing.db")]) == 2
    assert "no conversation database" in capsys.readouterr().err
    db = tmp_path / "a.db"
    fill(db, 1)
    assert cli_main(["backup", str(db), "--db", str(db)]) == 2
    assert "is the database itself" in capsys.readouterr().err


def test_read_only_database_gives_an_error_event_and_the_server_keeps_serving(tmp_path, caplog):
    """The store refuses writes (query_only stands in for a read-only file: tests run as root, for whom
    file modes do not stop writes): a clear storage_error event, a log line, and the server goes on."""
    with running(tmp_path) as srv:
        memory = srv.server.assistant.memory
        c = Client(srv.ws_url)
        c.recv()
        cid = c.start()["conversation_id"]
        c.send({"type": "text.input", "text": "stored fine"})
        c.until("reply.done")
        with memory._lock:
            memory.db.execute("PRAGMA query_only = ON")
        c.send({"type": "text.input", "text": "not stored"})
        events = c.until("reply.done")
        error = [e for e in events if e["type"] == "error"][-1]
        assert error["code"] == "storage_error" and not error["fatal"] and "could not be stored" in error["message"]
        other = Client(srv.ws_url)  # a new session needs a new conversation row: refused, clearly
        other.recv()
        other.send({"type": "session.start"})
        error = other.until("error")[-1]
        assert error["code"] == "storage_error" and "readonly" in error["message"].replace(" ", "").replace("-", "")
        c.send({"type": "ping"})
        assert c.until("pong")[-1]["type"] == "pong"
        with memory._lock:
            memory.db.execute("PRAGMA query_only = OFF")
        other.start()  # the same connection can start once the store is back
        c.send({"type": "text.input", "text": "stored again"})
        c.until("reply.done")
        c.close()
        other.close()
    assert any("could not store exchange" in r.getMessage() for r in caplog.records)
    with Memory(tmp_path / "a.db") as memory:
        texts = [t["text"] for t in memory.export_conversation(cid)["turns"] if t["role"] == "user"]
    assert texts == ["stored fine", "stored again"]


def test_full_disk_gives_an_error_event_and_the_server_keeps_serving(tmp_path):
    """SQLITE_FULL, as a full disk gives it, made with max_page_count (no filesystem mounts needed)."""
    with running(tmp_path) as srv:
        memory = srv.server.assistant.memory
        c = Client(srv.ws_url)
        c.recv()
        c.start()
        with memory._lock:
            pages = memory.db.execute("PRAGMA page_count").fetchone()[0]
            memory.db.execute(f"PRAGMA max_page_count = {pages}")
        big = "word " * 390  # a turn that needs new pages
        errors = []
        for _ in range(5):
            c.send({"type": "text.input", "text": big})
            errors += [e for e in c.until("reply.done") if e["type"] == "error"]
        assert errors and all(e["code"] == "storage_error" for e in errors)
        c.send({"type": "ping"})
        assert c.until("pong")[-1]["type"] == "pong"
        c.close()


@pytest.mark.slow
def test_sigkill_mid_conversation_then_restart(tmp_path):
    db = tmp_path / "server.db"
    # replies in this process, so the third one is still streaming when the kill comes (a reply
    # process hands over a whole reply at once)
    args = [sys.executable, "-m", "server", "--port", "0", "--db", str(db), *model_args(tmp_path),
            "--log-level", "WARNING", "--reply-processes", "0"]

    def start():
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "ASSISTANT_TOKEN": ""})
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line + proc.stderr.read()
        return proc, int(line.split("http://127.0.0.1:")[1].split("/")[0])

    proc, port = start()
    try:
        c = Client(f"ws://127.0.0.1:{port}/v1/ws")
        c.recv()
        cid = c.start(reply=VERY_LONG_REPLY)["conversation_id"]
        done = []
        for text in ("first question", "second question"):
            c.send({"type": "text.input", "text": text})
            c.send({"type": "reply.cancel"})  # a short, complete exchange
            done.append(c.until("reply.done")[-1]["text"])
        c.send({"type": "text.input", "text": "killed while answering"})
        c.until("reply.delta")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc, port = start()
    try:
        with Memory(db) as memory:  # a reader beside the restarted server
            assert memory.check_integrity() == []
            turns = memory.export_conversation(cid)["turns"]
        texts = [t["text"] for t in turns]
        assert texts == ["first question", done[0], "second question", done[1]]  # no half exchange
        c = Client(f"ws://127.0.0.1:{port}/v1/ws")
        c.recv()
        assert c.start(conversation_id=cid, reply={"max_length": 4})["resumed"] is True
        c.send({"type": "text.input", "text": "after the restart"})
        c.until("reply.done")
        c.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with Memory(db) as memory:
        texts = [t["text"] for t in memory.export_conversation(cid)["turns"]]
        assert memory.check_integrity() == []
    assert texts[:4] == ["first question", done[0], "second question", done[1]]
    assert texts[4] == "after the restart" and len(texts) == 6
