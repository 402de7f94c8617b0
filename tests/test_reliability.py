"""Reliability of the websocket server: disconnects at any point, churn, resources coming back.

A real server on port 0 in a thread, real websockets clients, a real SQLite file, tiny untrained models
(from test_pipeline). The churn helpers are shared with bench/churn_memory.py.
"""
import json
import os
import random
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from assistant import Memory
from test_pipeline import frames, utterance
from test_server import VERY_LONG_REPLY, Client, running

AUDIO = [(f * 32767).astype("<i2").tobytes() for f in frames(utterance(0.1, 0.5, 0.1), 20)]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def abrupt_close(ws) -> None:
    """Drop the TCP connection without a websocket close frame (a crashed client, a lost network)."""
    try:
        ws.socket.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    ws.recv_events_thread.join(5)  # the client library's reader sees the end (else its thread stays)
    ws.socket.close()


def churn_once(url: str, rng: random.Random) -> str:
    """One client that sends a few random frames and closes at a random point. Returns what happened:
    "busy" when it was refused, else the point at which it left."""
    ws = connect(url, open_timeout=10, legacy=True, ping_interval=None)  # no keepalive thread left behind
    try:
        point = rng.choice(["before_info", "before_start", "mid_utterance", "mid_reply", "after_garbage"])
        if point != "before_info":
            first = json.loads(ws.recv(timeout=10))
            if first["type"] == "error":
                return "busy"
        if point in ("mid_utterance", "mid_reply", "after_garbage"):
            ws.send(json.dumps({"type": "session.start", "vad": {"mode": rng.choice(["client", "server"])},
                                "reply": VERY_LONG_REPLY}))
        if point == "mid_utterance":
            for chunk in AUDIO[:rng.randrange(1, 15)]:
                ws.send(chunk)
        elif point == "mid_reply":
            ws.send(json.dumps({"type": "text.input", "text": "tell me a story"}))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # until the reply streams
                if json.loads(ws.recv(timeout=5))["type"] == "reply.delta":
                    break
        elif point == "after_garbage":
            for _ in range(rng.randrange(1, 6)):
                ws.send(rng.choice([b"\x01", b"\x00" * rng.randrange(2, 640, 2), "{", '{"type": 3}', "[]",
                                    '{"type": "audio.end"}', '{"type": "ping"}']))
        return point
    finally:
        if rng.random() < 0.5:
            abrupt_close(ws)
        else:
            try:
                ws.close()
            except OSError:
                pass


def churn(url: str, connections: int, concurrency: int = 8, seed: int = 0) -> dict:
    """`connections` clients, `concurrency` at a time, each closing at a random point. What happened, counted."""
    counts: dict[str, int] = {}
    lock = threading.Lock()
    per_thread = [connections // concurrency + (k < connections % concurrency) for k in range(concurrency)]

    def run(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        for _ in range(per_thread[k]):
            what = churn_once(url, rng)
            with lock:
                counts[what] = counts.get(what, 0) + 1

    threads = [threading.Thread(target=run, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def check_after_churn(srv, tmp_path, baseline_threads: int, baseline_fds: int) -> None:
    server = srv.server
    assert wait_for(lambda: not server.clients and not server.worker.clients), (
        len(server.clients), len(server.worker.clients))
    assert server.active_sessions() == 0
    health = json.load(urllib.request.urlopen(srv.http_url + "/healthz", timeout=10))
    assert health["sessions"] == 0
    c = Client(srv.ws_url)  # admitted
    assert c.recv()["type"] == "server.info"
    c.start()
    c.close()
    assert wait_for(lambda: threading.active_count() <= baseline_threads + 2), [t.name for t in threading.enumerate()]
    assert wait_for(lambda: open_fds() <= baseline_fds + 5), (open_fds(), baseline_fds)
    with Memory(tmp_path / "a.db") as memory:  # every stored exchange is whole
        assert memory.check_integrity() == []


def _baseline(srv) -> tuple[int, int]:
    warm = Client(srv.ws_url)  # the first connection starts what stays (executor threads, caches)
    warm.recv()
    warm.close()
    urllib.request.urlopen(srv.http_url + "/healthz", timeout=10).read()
    wait_for(lambda: not srv.server.clients)
    return threading.active_count(), open_fds()


def test_churn_frees_every_session_slot(tmp_path):
    """8 clients at a time connect, send a few frames and close (cleanly or not) 200 times: never `busy`
    (limit 16), and afterwards nothing is left over."""
    with running(tmp_path) as srv:
        threads, fds = _baseline(srv)
        counts = churn(srv.ws_url, 200, concurrency=8, seed=1)
        assert "busy" not in counts, counts
        assert sum(counts.values()) == 200
        check_after_churn(srv, tmp_path, threads, fds)


@pytest.mark.slow
def test_churn_1000_connections(tmp_path):
    with running(tmp_path) as srv:
        threads, fds = _baseline(srv)
        counts = churn(srv.ws_url, 1000, concurrency=8, seed=2)
        assert "busy" not in counts, counts
        check_after_churn(srv, tmp_path, threads, fds)


def test_slot_is_free_at_once_after_an_abrupt_close_mid_reply(tmp_path):
    """With max_sessions=1, a client that vanishes mid-reply leaves room for the next one right away, and
    its exchange is stored whole: the user turn and the reply text generated until the close."""
    with running(tmp_path, max_sessions=1) as srv:
        first = Client(srv.ws_url)
        first.recv()
        cid = first.start(reply=VERY_LONG_REPLY)["conversation_id"]
        first.send({"type": "text.input", "text": "tell me a long story"})
        delta = first.until("reply.delta")[-1]
        abrupt_close(first.ws)
        second = Client(srv.ws_url)  # no sleep: the slot is free as soon as the server sees the socket gone
        assert second.recv()["type"] == "server.info"
        second.close()
        assert wait_for(lambda: not srv.server.clients)
        with Memory(tmp_path / "a.db") as memory:
            turns = memory.export_conversation(cid)["turns"]
            assert memory.check_integrity() == []
        assert [t["role"] for t in turns] == ["user", "assistant"]
        assert turns[1]["finish_reason"] == "cancelled" and turns[1]["text"].startswith(delta["text"])


def test_close_mid_utterance_stores_nothing(tmp_path):
    with running(tmp_path, max_sessions=1) as srv:
        c = Client(srv.ws_url)
        c.recv()
        cid = c.start(vad={"mode": "client"})["conversation_id"]
        c.pcm(utterance(0.1, 0.4, 0.0), ms=20)
        c.close()
        again = Client(srv.ws_url)
        assert again.recv()["type"] == "server.info"
        again.close()
        assert wait_for(lambda: not srv.server.clients)
        with Memory(tmp_path / "a.db") as memory:
            assert memory.export_conversation(cid)["turns"] == []


def test_close_before_session_start(tmp_path):
    with running(tmp_path, max_sessions=1) as srv:
        for _ in range(5):
            c = Client(srv.ws_url)  # not even reading server.info
            abrupt_close(c.ws)
            c = Client(srv.ws_url)
            assert c.recv()["type"] == "server.info", "the slot of the previous client was not freed"
            c.close()


# ---- audio.end after the server's own end-of-speech detection ------------------------------

def test_audio_end_after_server_endpoint_is_a_no_op(tmp_path):
    """Server VAD ended the utterance (final, reply); a late audio.end (push-to-talk released, microphone
    switched off) with no speech since gives no second, empty transcript.final: nothing at all."""
    with running(tmp_path) as srv:
        c = Client(srv.ws_url)
        c.recv()
        c.start(vad={"mode": "server", "silence_ms": 300})
        c.pcm(utterance(lead=0.5, speech=1.0, tail=1.0), speedup=4)
        events = c.until("metrics")
        assert [e["type"] for e in events].count("transcript.final") == 1
        c.send({"type": "audio.end"})
        c.send({"type": "session.update"})  # answered by the model worker after the audio.end: a barrier
        assert [e["type"] for e in c.until("session.updated")] == ["session.updated"]
        c.pcm(np.zeros(3200, dtype=np.float32))  # more silence, still no speech: still a no-op
        c.send({"type": "audio.end"})
        c.send({"type": "session.update"})  # answered by the model worker after the audio.end: a barrier
        assert [e["type"] for e in c.until("session.updated")] == ["session.updated"]
        c.pcm(utterance(lead=0.3, speech=1.0, tail=1.0, seed=3), speedup=4)  # the next utterance as usual
        kinds = [e["type"] for e in c.until("metrics")]
        assert kinds.count("vad.speech_started") == 1 and kinds.count("transcript.final") == 1
        c.close()


def test_audio_end_before_server_vad_heard_speech_still_recognises(tmp_path):
    """The other case stays as it was: server VAD has not heard speech yet (no final since), so audio.end
    recognises the audio that came (quiet speech the detector missed)."""
    with running(tmp_path) as srv:
        c = Client(srv.ws_url)
        c.recv()
        c.start(vad={"mode": "server"})
        c.pcm(utterance(lead=0.1, speech=0.3, tail=0.0) * 0.02)
        c.send({"type": "audio.end"})
        assert c.until("transcript.final")[-1]["type"] == "transcript.final"
        c.close()
