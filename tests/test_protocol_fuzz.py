"""Protocol fuzzing against a real server (port 0, real websockets clients, a real SQLite file, tiny models).

Random and malformed JSON, wrong field types, unknown types, empty and huge frames, odd-length and extreme
binary, invalid UTF-8, audio before session.start, typed text mid-utterance and floods of frames. For every
example: each frame that `protocol.parse` rejects gets its `error` event with that code before the answer to a
trailing ping (or the connection is closed with a close code and reason); the server never reports
`internal`; a second session connected all along keeps working; nothing rejected is stored.
"""
import json
import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from assistant import Memory, protocol
from test_server import Client, running

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # websockets' legacy=True connect
              # the server's threads use `random` while hypothesis draws; that is not the strategies' doing
              pytest.mark.filterwarnings("ignore:Do not use the `random` module")]

KNOWN_TYPES = [t for t in protocol.CLIENT_MESSAGES if t != "binary"]
FIELD_NAMES = ["text", "reply_id", "asr", "vad", "reply", "protocol", "conversation_id", "audio", "language",
               "mode", "partials", "hotwords", "phrases", "silence_ms", "sensitivity"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6),
                                                                 inner, max_size=4),
    max_leaves=12,
)
messages = st.builds(
    lambda kind, fields: json.dumps({**fields, "type": kind}),  # json.dumps writes NaN and Infinity too
    st.sampled_from(KNOWN_TYPES) | st.sampled_from(["", "binary", "warp.drive", "Session.Start"]) | st.text(max_size=8)
    | st.integers() | st.none(),
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=3),
)
typed_text = st.text(max_size=30).map(lambda t: json.dumps({"type": "text.input", "text": t}))
text_frames = st.one_of(
    messages, messages, typed_text, json_values.map(json.dumps), st.text(max_size=40),
    st.sampled_from(["", " ", "{", "\x00"]),
    # deep nesting, clear of the recursion limit (near it, the answer depends on the parser's stack depth)
    st.sampled_from([1, 10, 100, 5000, 20000]).map(lambda n: "[" * n + "]" * n),
    st.integers(60000, 300000).map(lambda n: '{"type": "ping"' + " " * n + "}"),  # over the limits
    st.integers(1990, 2010).map(lambda n: json.dumps({"type": "text.input", "text": "x" * n})),
)
binary_frames = st.one_of(
    st.binary(max_size=400),
    st.integers(0, 40000).map(lambda n: b"\x00" * n),  # empty, odd, at and over the 32000-byte limit
    st.sampled_from([b"\x00\x80" * 320, b"\xff\x7f" * 320, (b"\x00\x80\xff\x7f" * 160)]),  # extreme PCM16
)
frames = st.one_of(text_frames, text_frames, binary_frames)
# A flood: one frame many times over (beyond the 256 queued messages the worker accepts per client).
floods = st.tuples(st.sampled_from(['{"type": "ping"}', '{"type": "session.update"}', "{oops", b"\x00" * 640,
                                    '{"type": "text.input", "text": "again"}']),
                   st.integers(100, 400)).map(lambda t: [t[0]] * t[1])
scripts = st.one_of(st.lists(frames, max_size=12), floods)

ALLOWED_CLOSE_CODES = {1007, 1008, 1009}  # invalid UTF-8, policy (too_slow, rate limits), message too big


def expected_code(frame, config) -> str | None:
    """The error code the server must send for this frame from parsing alone (None: it parses)."""
    if isinstance(frame, str) and len(frame.encode()) > max(config.max_frame_bytes, config.max_message_bytes) * 4:
        return "close"  # over the websocket size limit: closed with 1009
    try:
        protocol.parse(frame, max_audio_bytes=config.max_frame_bytes, max_message_bytes=config.max_message_bytes,
                       max_text_chars=config.max_text_chars)
    except protocol.ProtocolError as exc:
        return exc.code
    return None


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    with running(tmp, idle_timeout_seconds=30) as srv:
        bystander = Client(srv.ws_url)
        bystander.recv()
        cid = bystander.start(vad={"mode": "client"})["conversation_id"]
        yield srv, tmp / "a.db", bystander, cid
        bystander.close()


def run_script(srv, script: list, start: str | None, invalid_utf8: bool = False) -> dict:
    config = srv.server.config
    # max_queue=None: events the test leaves unread must not pause the client's reader, or its close()
    # waits out the 10 s close timeout (a websockets sync client behaviour, not the server's)
    ws = connect(srv.ws_url, open_timeout=10, legacy=True, ping_interval=None, max_size=None, max_queue=None)
    events, closed = [], None
    sent_texts: list[str] = []
    try:
        events.append(json.loads(ws.recv(timeout=10)))
        if start is not None:
            ws.send(json.dumps({"type": "session.start", "vad": {"mode": start}}))
            while events[-1]["type"] not in ("session.started", "error"):
                events.append(json.loads(ws.recv(timeout=10)))
        expected: list[str] = []
        pings = 1
        for frame in script:
            code = expected_code(frame, config)
            if code is None and isinstance(frame, str):
                message = protocol.parse(frame)
                pings += message.type == "ping"
                if message.type == "text.input":
                    sent_texts.append(message.get("text"))
            elif code is not None:
                expected.append(code)
            ws.send(frame)
        if invalid_utf8:
            ws.send(b'{"type": "\xff\xfe"}', text=True)
            expected.append("close")
        ws.send('{"type": "ping"}')
        seen_pongs = 0
        while seen_pongs < pings:
            evt = json.loads(ws.recv(timeout=20))
            events.append(evt)
            seen_pongs += evt["type"] == "pong"
    except ConnectionClosed as exc:
        closed = exc
    finally:
        ws.close()
    return {"events": events, "expected": expected, "closed": closed, "texts": sent_texts}


def check_result(result: dict) -> None:
    events, closed = result["events"], result["closed"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["type"] in protocol.SERVER_EVENTS for e in events)
    codes = [e["code"] for e in events if e["type"] == "error"]
    assert "internal" not in codes, events
    if closed is None:
        missing = list(result["expected"])
        for code in codes:
            if code in missing:
                missing.remove(code)
        assert not missing, (missing, codes)  # every rejected frame got its error
    else:  # a clean close with a code and reason, after the errors of the frames before it
        rcvd = closed.rcvd
        assert rcvd is not None, closed
        fatal = [e for e in events if e["type"] == "error" and e["fatal"]]
        assert rcvd.code in ALLOWED_CLOSE_CODES or (fatal and rcvd.reason), (rcvd, events[-3:])
        assert "close" in result["expected"] or fatal, (rcvd, result["expected"], events[-3:])


def check_store(db_path, sent_texts: set[str]) -> None:
    """Every stored exchange is whole, and every stored typed turn is a text.input that was accepted."""
    with Memory(db_path) as memory:
        assert memory.check_integrity() == []
        rows = memory.db.execute("SELECT text FROM turns WHERE role = 'user' AND source = 'text'").fetchall()
    assert {r[0] for r in rows} <= sent_texts


def wait_idle(srv, timeout=10.0):
    deadline = time.monotonic() + timeout
    while len(srv.server.clients) > 1 and time.monotonic() < deadline:  # the bystander stays
        time.sleep(0.01)


# FUZZ_EXAMPLES=1000 for a longer hunt; 40 keep the test at a few seconds.
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")), deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(script=scripts, start=st.sampled_from([None, "client", "server"]), invalid_utf8=st.booleans())
@example(script=[b"\x00\x01" * 160, '{"type": "audio.end"}'], start=None, invalid_utf8=False)  # audio first
@example(script=[b"\x00\x10" * 3200, '{"type": "text.input", "text": "typed mid-utterance"}', b"\x00\x10" * 320,
                 '{"type": "audio.end"}'], start="client", invalid_utf8=False)
@example(script=["", b"", b"\x00", "{}", '{"type": 7}', "null", "[]"], start="server", invalid_utf8=False)
@example(script=[b"\x00" * 40000, "x" * 300000], start="client", invalid_utf8=False)  # huge frames
def test_fuzzed_frames(fuzz_server, script, start, invalid_utf8):
    srv, db_path, bystander, bystander_cid = fuzz_server
    result = run_script(srv, script, start, invalid_utf8)
    check_result(result)
    fuzz_server_texts.update(result["texts"])
    bystander.send({"type": "ping"})  # the other session is unaffected
    assert bystander.until("pong", timeout=10)[-1]["type"] == "pong"
    wait_idle(srv)
    assert srv.server.worker.is_alive()


fuzz_server_texts: set[str] = {"bystander says hi"}


def test_after_fuzzing_the_bystander_and_the_store_are_fine(fuzz_server):
    srv, db_path, bystander, bystander_cid = fuzz_server
    bystander.send({"type": "text.input", "text": "bystander says hi"})
    assert bystander.until("reply.done")[-1]["finish_reason"] in ("eos", "length")
    wait_idle(srv)
    check_store(db_path, fuzz_server_texts)
    with Memory(db_path) as memory:
        turns = memory.export_conversation(bystander_cid)["turns"]
    assert [t["text"] for t in turns][:1] == ["bystander says hi"]


def test_rejected_input_stores_nothing(tmp_path):
    """Only rejected frames (each gets its error): the database holds no turn afterwards."""
    with running(tmp_path) as srv:
        script = ['{"type": "text.input", "text": 7}', '{"type": "text.input", "text": "   "}', "{bad",
                  '{"type": "text.input", "text": "' + "a" * 2500 + '"}', b"\x00" * 301,
                  '{"type": "text.input"}', '{"type": "warp"}', '{"type": "audio.end"}']
        result = run_script(srv, script, "client")
        check_result(result)
        wait_idle(srv, 10)
        with Memory(tmp_path / "a.db") as memory:
            assert memory.stats()["turns"] == 0


def test_typed_text_mid_utterance_and_audio_before_start(tmp_path):
    with running(tmp_path) as srv:
        c = Client(srv.ws_url)
        c.recv()
        c.send(np.zeros(320, dtype="<i2").tobytes())  # before session.start
        assert c.until("error")[-1]["code"] == "not_started"
        cid = c.start(vad={"mode": "client"})["conversation_id"]
        c.send((np.ones(3200) * 3000).astype("<i2").tobytes())  # an utterance begins
        c.send({"type": "text.input", "text": "typed while speaking"})
        assert c.until("reply.done")[-1]["type"] == "reply.done"
        c.send({"type": "audio.end"})
        c.until("transcript.final")
        c.close()
        wait_idle(srv, 10)
        srv_turns = Memory(tmp_path / "a.db")
        try:
            texts = [t["text"] for t in srv_turns.export_conversation(cid)["turns"] if t["role"] == "user"]
            assert texts[0] == "typed while speaking" and srv_turns.check_integrity() == []
        finally:
            srv_turns.close()
