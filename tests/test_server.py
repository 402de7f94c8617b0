"""The websocket server: a real server on port 0 in a thread, a real websockets client, a real SQLite file.

Tiny untrained models (seeded) from test_pipeline; the SIGTERM test runs `python -m server` in a subprocess.
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from assistant import Memory
from server import ServerOptions, ServerThread, main
from test_pipeline import LONG_REPLY, frames, make_assistant, untrained_recognizer, untrained_responder, utterance

ROOT = Path(__file__).resolve().parents[1]
# A reply long enough (in time) to be interrupted by a message the test sends after its first piece.
VERY_LONG_REPLY = {**LONG_REPLY, "min_length": 300, "max_length": 300}


class Client:
    """A websocket client that checks `seq` on every event."""

    def __init__(self, url: str, **kwargs):
        self.ws = connect(url, open_timeout=10, legacy=True, **kwargs)
        self.seq = 0
        self.events: list[dict] = []

    def send(self, message) -> None:
        self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    def recv(self, timeout: float = 20) -> dict:
        evt = json.loads(self.ws.recv(timeout=timeout))
        self.seq += 1
        assert evt["seq"] == self.seq, evt
        self.events.append(evt)
        return evt

    def until(self, kind: str, timeout: float = 30) -> list[dict]:
        """Events up to and including the first of type `kind`."""
        got, deadline = [], time.monotonic() + timeout
        while True:
            evt = self.recv(max(0.1, deadline - time.monotonic()))
            got.append(evt)
            if evt["type"] == kind:
                return got

    def start(self, **fields) -> dict:
        self.send({"type": "session.start", "protocol": 1, **fields})
        return self.until("session.started")[-1]

    def pcm(self, audio: np.ndarray, ms: int = 20, speedup: float | None = None) -> None:
        """Send PCM16 frames; with `speedup`, paced like a microphone that runs that many times real time."""
        start = time.monotonic()
        for i, frame in enumerate(frames(audio, ms)):
            if speedup:
                time.sleep(max(0.0, start + i * ms / 1000 / speedup - time.monotonic()))
            self.send((np.clip(frame, -1, 1) * 32767).astype("<i2").tobytes())

    def close(self) -> None:
        self.ws.close()


@contextlib.contextmanager
def running(tmp_path, options: ServerOptions | None = None, **config):
    srv = ServerThread(make_assistant(tmp_path / "a.db", **config), options or ServerOptions(port=0)).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def server(tmp_path):
    with running(tmp_path) as srv:
        yield srv


@pytest.fixture
def client(server):
    c = Client(server.ws_url)
    info = c.recv()
    assert info["type"] == "server.info"
    yield c
    c.close()


def types(events):
    return [e["type"] for e in events]


def test_server_info_and_ping(server):
    c = Client(server.ws_url)
    info = c.recv()
    assert info["type"] == "server.info" and info["seq"] == 1 and info["protocol"] == 1
    assert info["audio"] == {"sample_rate": 16000, "encoding": "pcm16"}
    assert info["limits"]["max_frame_ms"] == 1000 and info["limits"]["max_sessions"] == 256
    assert info["limits"]["max_list_items"] == 100 and info["limits"]["max_list_item_chars"] == 100
    assert set(info["models"]) == {"speech", "dialogue"}
    c.send({"type": "ping"})
    assert c.recv()["type"] == "pong"
    c.close()


def test_text_round_trip_is_stored(server, client, tmp_path):
    started = client.start()
    cid = started["conversation_id"]
    assert started["resumed"] is False and started["session_id"]
    client.send({"type": "text.input", "text": "hello there"})
    events = client.until("metrics")
    assert types(events)[0] == "reply.started" and types(events)[-2:] == ["reply.done", "metrics"]
    done = events[-2]
    assert done["text"] == "".join(e["text"] for e in events if e["type"] == "reply.delta")
    with Memory(tmp_path / "a.db") as memory:  # a second reader of the live database (WAL)
        turns = memory.export_conversation(cid)["turns"]
    assert [(t["role"], t["text"]) for t in turns] == [("user", "hello there"), ("assistant", done["text"])]


def test_voice_round_trip_server_vad(client):
    client.start(vad={"mode": "server", "silence_ms": 300})
    client.pcm(utterance(lead=0.5, speech=1.0, tail=1.0), speedup=4)
    events = client.until("metrics")
    kinds = types(events)
    for kind in ("vad.speech_started", "transcript.partial", "vad.speech_stopped", "transcript.final",
                 "reply.started", "reply.delta", "reply.done", "metrics"):
        assert kind in kinds, kind
    assert kinds.index("vad.speech_started") < kinds.index("transcript.partial") < kinds.index("transcript.final")
    assert kinds.index("vad.speech_stopped") < kinds.index("transcript.final") < kinds.index("reply.started")
    partials = [e for e in events if e["type"] == "transcript.partial"]
    final = events[kinds.index("transcript.final")]
    # Paced audio normally gives several partials, but a loaded machine may batch all queued audio into one
    # step (by design); tests/test_pipeline.py checks that partials grow frame by frame.
    assert partials and final["text"]
    for before, after in zip(partials, partials[1:] + [final]):  # the stable prefix never changes
        assert after["text"].startswith(before["text"][:before["stable_chars"]])
    assert {p["utterance_id"] for p in partials} == {final["utterance_id"]}
    assert events[kinds.index("reply.started")]["utterance_id"] == final["utterance_id"]
    metrics = events[-1]
    assert metrics["utterance_id"] == final["utterance_id"] and metrics["audio_seconds"] > 1.0
    for name in ("first_partial_ms", "endpoint_to_final_ms", "final_to_first_token_ms", "compute_seconds"):
        assert metrics[name] > 0, name


def test_voice_round_trip_client_vad(client):
    client.start(vad={"mode": "client"})
    client.pcm(utterance(lead=0.1, speech=0.6, tail=0.1), ms=100)
    client.send({"type": "audio.end"})
    events = client.until("metrics")
    kinds = types(events)
    assert "vad.speech_started" not in kinds and "transcript.partial" in kinds
    assert kinds.index("transcript.final") < kinds.index("reply.started")


def test_barge_in(client, tmp_path):
    started = client.start(vad={"mode": "client"}, reply=VERY_LONG_REPLY)
    client.send({"type": "text.input", "text": "tell me a long story"})
    first = client.until("reply.delta")
    client.pcm(utterance(lead=0.0, speech=0.3, tail=0.0))  # speaking over the reply
    events = first + client.until("reply.done")
    done = events[-1]
    assert done["finish_reason"] == "interrupted"
    assert done["text"] == "".join(e["text"] for e in events if e["type"] == "reply.delta")
    client.send({"type": "session.end"})
    client.until("session.ended")
    with Memory(tmp_path / "a.db") as memory:
        turns = memory.export_conversation(started["conversation_id"])["turns"]
    assert turns[-1]["text"] == done["text"] and turns[-1]["finish_reason"] == "interrupted"


def test_cancel(client):
    client.start(reply=VERY_LONG_REPLY)
    client.send({"type": "text.input", "text": "talk"})
    events = client.until("reply.delta")
    reply_id = events[0]["reply_id"]
    client.send({"type": "reply.cancel", "reply_id": reply_id})
    events += client.until("reply.done")
    assert events[-1]["finish_reason"] == "cancelled" and events[-1]["reply_id"] == reply_id
    assert events[-1]["text"] == "".join(e["text"] for e in events if e["type"] == "reply.delta")
    client.send({"type": "reply.cancel", "reply_id": reply_id})  # no longer streaming
    assert client.until("error")[-1]["code"] == "unknown_reply"


def test_resume_after_reconnect(server, tmp_path):
    first = Client(server.ws_url)
    first.recv()
    cid = first.start()["conversation_id"]
    first.send({"type": "text.input", "text": "my name is ada"})
    first.until("metrics")
    first.close()
    second = Client(server.ws_url)
    second.recv()
    started = second.start(conversation_id=cid)
    assert started["conversation_id"] == cid and started["resumed"] is True
    second.send({"type": "text.input", "text": "what is my name"})
    second.until("metrics")
    second.close()
    with Memory(tmp_path / "a.db") as memory:
        texts = [t["text"] for t in memory.export_conversation(cid)["turns"]]
    assert texts[0] == "my name is ada" and texts[2] == "what is my name" and len(texts) == 4


def test_two_sessions_stay_separate(server, tmp_path):
    a, b = Client(server.ws_url), Client(server.ws_url)
    a.recv(), b.recv()
    ca = a.start(vad={"mode": "client"})["conversation_id"]
    cb = b.start(vad={"mode": "client"})["conversation_id"]
    assert ca != cb
    a.pcm(utterance(0.1, 0.5, 0.1, seed=1), ms=50)  # audio of both is in flight at once
    b.send({"type": "text.input", "text": "typed on b"})
    b.pcm(utterance(0.1, 0.5, 0.1, seed=2), ms=50)
    a.send({"type": "audio.end"})
    b.send({"type": "audio.end"})
    ea, eb = a.until("metrics"), b.until("metrics") + b.until("metrics")
    assert {e.get("utterance_id") for e in ea if "utterance_id" in e} & {
        e.get("utterance_id") for e in eb if "utterance_id" in e} == set()
    a.close(), b.close()
    with Memory(tmp_path / "a.db") as memory:
        assert len(memory.export_conversation(ca)["turns"]) == 2
        turns_b = memory.export_conversation(cb)["turns"]
    assert len(turns_b) == 4 and turns_b[0]["text"] == "typed on b"


def _three_voices(url: str, gap: float = 0.0) -> list[str]:
    """Three client-VAD sessions whose frames arrive interleaved (`gap` seconds apart), then audio.end;
    their final transcripts."""
    clients = [Client(url) for _ in range(3)]
    for c in clients:
        c.recv()
        c.start(vad={"mode": "client"})
    audio = [frames(utterance(0.1, 0.6, 0.1, seed=k), 20) for k in range(3)]
    for i in range(len(audio[0])):
        for c, chunks in zip(clients, audio):
            c.send((chunks[i] * 32767).astype("<i2").tobytes())
            if gap:
                time.sleep(gap)
    for c in clients:
        c.send({"type": "audio.end"})
    finals = [c.until("transcript.final")[-1]["text"] for c in clients]
    for c in clients:
        c.close()
    return finals


def _metric_samples(http_url: str) -> dict[str, float]:
    text = urllib.request.urlopen(http_url + "/metrics", timeout=10).read().decode()
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}


def test_concurrent_streams_share_recognition_steps(server):
    assert all(_three_voices(server.ws_url))
    samples = _metric_samples(server.http_url)
    steps, streams = (samples["assistant_recognition_batch_streams_count"],
                      samples["assistant_recognition_batch_streams_sum"])
    assert streams > steps, "every recognition step served a single stream"


def test_no_batching_recognises_each_stream_alone(tmp_path):
    """ServerOptions(batching=False) (--no-batching, for bench/load_test.py): one model call per stream."""
    with running(tmp_path, ServerOptions(port=0, batching=False)) as srv:
        assert all(_three_voices(srv.ws_url))
        samples = _metric_samples(srv.http_url)
    assert samples["assistant_recognition_batch_streams_sum"] == samples["assistant_recognition_batch_streams_count"]


def test_paced_ticks_batch_more_sessions(tmp_path):
    """ServerOptions(tick_seconds=...) (--tick-ms): while only audio waits, a tick starts at most that often,
    so frames that arrive one by one share a step; audio.end is not held back."""
    with running(tmp_path, ServerOptions(port=0, tick_seconds=0.2)) as srv:
        assert all(_three_voices(srv.ws_url, gap=0.002))  # one by one, as real clients' frames arrive
        samples = _metric_samples(srv.http_url)
    steps, streams = (samples["assistant_recognition_batch_streams_count"],
                      samples["assistant_recognition_batch_streams_sum"])
    assert streams / steps > 2  # unpaced, a frame sent alone is mostly stepped alone


def _finals_with(tmp_path, options: ServerOptions) -> tuple[list[str], float]:
    """Three interleaved voice sessions on a server whose recognizer has a beam search + LM."""
    import torch

    from assistant import Assistant, AssistantConfig
    from speech import AcousticConfig, AcousticModel, Alphabet, FeatureConfig, Recognizer
    from speech.lm import NGramLM

    torch.manual_seed(0)
    model = AcousticModel(AcousticConfig(hidden=16, layers=1))
    with torch.no_grad():  # peaked outputs, blank pushed down: the untrained model emits letters
        model.output.weight.mul_(8.0)
        model.output.bias[0] -= 2.0
    recognizer = Recognizer(model, Alphabet(), FeatureConfig(), beam_size=4,
                            lm=NGramLM.build(["the cat sat", "a dog ran"], order=2))
    assistant = Assistant(AssistantConfig(db_path=str(tmp_path / "a.db"), silence_ms=300),
                          recognizer, untrained_responder(), Memory(tmp_path / "a.db"))
    srv = ServerThread(assistant, options).start()
    try:
        finals = _three_voices(srv.ws_url)
        return finals, srv.server.load()["search_utilization"]
    finally:
        srv.stop()


def test_search_process_gives_the_same_finals(tmp_path):
    """ServerOptions(search_process=True) (the command's default): the beam search runs in a child
    process; the finals equal the search thread's, and its load counts for admission."""
    in_thread, _ = _finals_with(tmp_path / "thread", ServerOptions(port=0))
    in_process, busy = _finals_with(tmp_path / "process", ServerOptions(port=0, search_process=True))
    assert any(in_thread) and in_process == in_thread
    assert busy > 0


MALFORMED = [
    ("{not json", "bad_json"),
    ("[1]", "bad_message"),
    ('{"type": "warp.drive"}', "unknown_type"),
    ('{"type": "text.input", "text": 7}', "bad_field"),
    ('{"type": "text.input", "text": "   "}', "bad_field"),
    ('{"type": "session.update", "reply": {"strategy": "telepathy"}}', "bad_field"),
    ('{"type": "text.input", "text": "' + "a" * 2500 + '"}', "too_large"),
    (b"\x00" * 40000, "too_large"),
    (b"\x00" * 301, "bad_audio"),
    ('{"type": "session.start"}', "already_started"),
    ('{"type": "reply.cancel"}', "unknown_reply"),
    ('{"type": "audio.end"}', "no_audio"),
]


def test_malformed_frames_get_error_codes_and_connection_stays_usable(client):
    client.send({"type": "audio.end"})
    assert client.until("error")[-1]["code"] == "not_started"
    client.send(b"\x00\x00" * 160)
    assert client.until("error")[-1]["code"] == "not_started"
    for frame in ('{"type": "session.start", "audio": {"sample_rate": 8000}}',
                  '{"type": "session.start", "protocol": 9}',
                  '{"type": "session.start", "conversation_id": "nope"}'):
        client.send(frame)
        code = client.until("error")[-1]["code"]
        assert code in ("unsupported_audio", "unsupported_protocol", "unknown_conversation")
    client.start(vad={"mode": "client"})
    for frame, code in MALFORMED:
        client.send(frame)
        error = client.until("error")[-1]
        assert error["code"] == code, (frame[:40], error)
        assert error["fatal"] is False and error["message"]
        client.send({"type": "ping"})
        assert client.until("pong")[-1]["type"] == "pong"  # still usable
    client.send({"type": "text.input", "text": "still here"})
    assert client.until("reply.done")[-1]["finish_reason"] in ("eos", "length")


def test_session_update_and_end(client):
    client.start()
    client.send({"type": "session.update", "asr": {"hotwords": ["lights"]}, "vad": {"mode": "client"}})
    updated = client.until("session.updated")[-1]
    assert updated["settings"]["asr"]["hotwords"] == ["lights"] and updated["settings"]["vad"]["mode"] == "client"
    client.send({"type": "session.update", "asr": {"phrases": ["yes", "no", "lights on"]}})
    assert client.until("session.updated")[-1]["settings"]["asr"]["phrases"] == ["yes", "no", "lights on"]
    client.send({"type": "session.update", "asr": {"phrases": ["yes", "ça"]}})  # accents are normalised away
    assert client.until("session.updated")[-1]["settings"]["asr"]["phrases"] == ["yes", "ça"]
    client.send({"type": "session.update", "asr": {"phrases": ["yes", "!!"]}})
    error = client.until("error")[-1]
    assert error["code"] == "bad_field" and "asr.phrases" in error["message"]
    client.send({"type": "session.end"})
    ended = client.until("session.ended")[-1]
    assert ended["reason"] == "client"
    client.send({"type": "text.input", "text": "anyone?"})
    assert client.until("error")[-1]["code"] == "not_started"
    assert client.start()["type"] == "session.started"  # a new session on the same connection


def test_auth_and_origin(tmp_path):
    with running(tmp_path, ServerOptions(port=0, token="s3cret")) as srv:
        for kwargs in ({}, {"additional_headers": {"Authorization": "Bearer wrong"}}):
            with pytest.raises(InvalidStatus) as info:
                connect(srv.ws_url, open_timeout=10, **kwargs)
            assert info.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as info:
            connect(srv.ws_url + "?token=s3cret", open_timeout=10, origin="http://evil.example")
        assert info.value.response.status_code == 403
        ok = Client(srv.ws_url, additional_headers={"Authorization": "Bearer s3cret"})
        assert ok.recv()["type"] == "server.info"
        ok.close()
        ok = Client(srv.ws_url + "?token=s3cret", origin=f"http://127.0.0.1:{srv.port}")  # same origin
        assert ok.recv()["type"] == "server.info"
        ok.close()
        with pytest.raises(urllib.error.HTTPError) as http_info:
            urllib.request.urlopen(srv.http_url + "/metrics", timeout=10)
        http_info.value.close()
        assert http_info.value.code == 401
        assert json.load(urllib.request.urlopen(srv.http_url + "/healthz", timeout=10))["status"] == "ok"


def test_token_required_off_loopback():
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2


def test_busy_beyond_max_sessions(tmp_path):
    with running(tmp_path, max_sessions=1) as srv:
        first = Client(srv.ws_url)
        first.recv()
        second = Client(srv.ws_url)
        error = second.recv()
        assert error["type"] == "error" and error["code"] == "busy" and error["fatal"] is True
        with pytest.raises(ConnectionClosed) as info:
            second.recv()
        assert info.value.rcvd.code == 1013
        first.close()
        time.sleep(0.3)
        third = Client(srv.ws_url)  # room again
        assert third.recv()["type"] == "server.info"
        third.close()


def test_overloaded_audio_is_refused_not_dropped(tmp_path):
    with running(tmp_path, max_backlog_seconds=0.5) as srv:
        c = Client(srv.ws_url)
        c.recv()
        c.start(vad={"mode": "client"})
        c.send(np.zeros(16000, dtype="<i2").tobytes())  # a 1 s frame > the 0.5 s backlog limit
        error = c.until("error")[-1]
        assert error["code"] == "overloaded" and not error["fatal"]
        c.pcm(utterance(0.05, 0.2, 0.05), ms=100)  # smaller frames are accepted again
        c.send({"type": "audio.end"})
        final = c.until("transcript.final")[-1]
        assert final["type"] == "transcript.final"
        c.close()


def test_idle_timeout(tmp_path):
    with running(tmp_path, idle_timeout_seconds=0.5) as srv:
        c = Client(srv.ws_url)
        c.recv()
        error = c.recv(timeout=10)
        assert error["code"] == "idle_timeout" and error["fatal"] is True
        with pytest.raises(ConnectionClosed):
            c.recv(timeout=10)


def test_http_static_health_metrics_conversations(server, client):
    client.start()
    client.send({"type": "text.input", "text": "hello"})
    client.until("metrics")
    with urllib.request.urlopen(server.http_url + "/", timeout=10) as index:
        assert index.headers["Content-Type"].startswith("text/html")
        assert index.read() == (ROOT / "assistant" / "web" / "index.html").read_bytes()
    for path in ("/../server.py", "/%2e%2e/server.py", "/..%2fserver.py", "/.hidden", "/nope.js",
                 "/%00index.html"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(server.http_url + path, timeout=10)
        info.value.close()  # else the server waits for this socket when it shuts down
        assert info.value.code == 404, path
    health = json.load(urllib.request.urlopen(server.http_url + "/healthz", timeout=10))
    load = health.pop("load")
    assert health == {"status": "ok", "sessions": 1, "max_sessions": 256, "accepting": True}
    assert set(load) == {"worker_utilization", "search_utilization", "audio_lag_seconds"}
    assert 0 <= load["worker_utilization"] <= 1 and load["audio_lag_seconds"] >= 0
    metrics = urllib.request.urlopen(server.http_url + "/metrics", timeout=10).read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(metrics) for s in family.samples}
    assert samples[("assistant_sessions_active", ())] == 1
    assert samples[("assistant_sessions_total", ())] == 1
    assert any(name == "assistant_replies_total" and labels and labels[0][0] == "finish_reason"
               for name, labels in samples)
    assert samples[("assistant_final_to_first_token_seconds_count", ())] == 1
    assert samples[("assistant_worker_tick_seconds_count", ())] >= 1
    assert not any(name.endswith("_created") for name, _ in samples)
    listed = json.load(urllib.request.urlopen(server.http_url + "/v1/conversations", timeout=10))
    cid = listed["conversations"][0]["id"]
    exported = json.load(urllib.request.urlopen(server.http_url + f"/v1/conversations/{cid}", timeout=10))
    assert [t["text"] for t in exported["turns"]][0] == "hello"


@pytest.mark.slow
def test_sigterm_shuts_down_cleanly(tmp_path):
    speech_path = untrained_recognizer().save(tmp_path / "speech.pt")
    dialogue_path = untrained_responder().save(tmp_path / "dialogue.pt")
    db = tmp_path / "server.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", "0", "--db", str(db), "--speech-model", str(speech_path),
         "--dialogue-model", str(dialogue_path), "--log-level", "WARNING",
         "--reply-processes", "0"],  # pieces made one at a time: the reply is still streaming at SIGTERM
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ASSISTANT_TOKEN": ""},
    )
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line + proc.stderr.read()
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        c = Client(f"ws://127.0.0.1:{port}/v1/ws")
        c.recv()
        cid = c.start(reply=VERY_LONG_REPLY)["conversation_id"]
        c.send({"type": "text.input", "text": "keep talking"})
        events = c.until("reply.delta")
        proc.send_signal(signal.SIGTERM)
        try:
            events += c.until("session.ended")
        except ConnectionClosed:
            raise AssertionError(f"closed after {c.events[-5:]}")
        done = [e for e in events if e["type"] == "reply.done"][0]
        assert done["finish_reason"] == "cancelled" and events[-1]["reason"] == "shutdown"
        with pytest.raises(ConnectionClosed):
            while True:
                c.recv(timeout=20)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with Memory(db) as memory:
        assert memory.check_integrity() == []
        turns = memory.export_conversation(cid)["turns"]
    assert [t["role"] for t in turns] == ["user", "assistant"]
    assert turns[1]["text"] == done["text"] and turns[1]["finish_reason"] == "cancelled"
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0


def _refused(srv) -> dict:
    c = Client(srv.ws_url)
    evt = c.recv()
    with pytest.raises(ConnectionClosed) as info:
        c.recv(timeout=10)
    assert info.value.rcvd.code == 1013
    return evt


def test_admission_follows_measured_load(tmp_path):
    """New sessions get `busy` when the measured load says the server is near real-time capacity;
    those already in keep going, and sessions are admitted again when the load falls."""
    options = ServerOptions(port=0, admit_utilization=0.5, admit_max_lag=0.3, admit_min_sessions=1)
    with running(tmp_path, options, max_sessions=100) as srv:
        first = Client(srv.ws_url)
        first.recv()
        first.start()
        worker = srv.server.worker
        worker.load.busy(30.0)  # as if the worker had been busy for the last seconds
        evt = _refused(srv)
        assert evt["type"] == "error" and evt["code"] == "busy" and evt["fatal"] and "capacity" in evt["message"]
        deadline = time.monotonic() + 10  # counted right after the close
        while srv.server.metrics.value("assistant_errors_total", code="busy") < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.server.metrics.value("assistant_errors_total", code="busy") >= 1
        health = json.load(urllib.request.urlopen(srv.http_url + "/healthz", timeout=10))
        assert health["accepting"] is False and health["load"]["worker_utilization"] > 0.5
        first.pcm(utterance())  # the session already in is served as before
        first.send({"type": "audio.end"})
        assert first.until("transcript.final")[-1]["type"] == "transcript.final"
        worker.load = type(worker.load)()  # measured afresh: idle
        worker._note_lag(1.0)  # audio waited a second for recognition
        evt = _refused(srv)
        assert evt["code"] == "busy" and "behind real time" in evt["message"]
        worker._lag_peak = 0.0
        again = Client(srv.ws_url)
        assert again.recv()["type"] == "server.info"
        again.close()
        first.close()


def test_admission_refuses_on_real_load(tmp_path):
    """A threshold below what one streaming session costs: the second connection is refused."""
    with running(tmp_path, ServerOptions(port=0, admit_utilization=1e-4, admit_max_lag=0, admit_min_sessions=1), max_sessions=100) as srv:
        first = Client(srv.ws_url)
        first.recv()
        first.start()
        first.pcm(utterance(), speedup=4.0)
        first.send({"type": "audio.end"})
        first.until("transcript.final")
        assert srv.server.worker.load.utilization() > 0
        assert _refused(srv)["code"] == "busy"
        first.close()
    with running(tmp_path / "off", ServerOptions(port=0, admit_utilization=0, admit_max_lag=0)) as srv:
        srv.server.worker.load.busy(30.0)
        c = Client(srv.ws_url)
        assert c.recv()["type"] == "server.info"  # checks off: only max_sessions counts
        c.close()
    with running(tmp_path / "few", ServerOptions(port=0, admit_max_lag=0)) as srv:
        srv.server.worker.load.busy(30.0)
        clients = [Client(srv.ws_url) for _ in range(4)]  # under admit_min_sessions: a busy meter does not refuse
        assert all(c.recv()["type"] == "server.info" for c in clients)
        assert _refused(srv)["code"] == "busy"
        for c in clients:
            c.close()
