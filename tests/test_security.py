"""Security of the server: tokens, rate limits, timeouts, static files, logs.

A real server on port 0 in a thread, real websockets and HTTP clients, tiny models (test_pipeline).
"""
import json
import logging
import os
import time
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from assistant import Memory
from server import ServerOptions
from test_server import Client, running

TOKEN = "s3cret-Token-4711"


def test_wrong_or_missing_token_is_refused_before_any_work(tmp_path):
    with running(tmp_path, ServerOptions(port=0, token=TOKEN)) as srv:
        attempts = [{}, {"additional_headers": {"Authorization": "Bearer wrong"}},
                    {"additional_headers": {"Authorization": f"Basic {TOKEN}"}},
                    {"additional_headers": {"Authorization": f"Bearer {TOKEN[:-1]}"}}]
        for kwargs in attempts:
            with pytest.raises(InvalidStatus) as info:
                connect(srv.ws_url, open_timeout=10, **kwargs)
            assert info.value.response.status_code == 401
        for query in ("?token=", "?token=wrong", f"?token={TOKEN}x", f"?token={TOKEN.upper()}"):
            with pytest.raises(InvalidStatus) as info:
                connect(srv.ws_url + query, open_timeout=10)
            assert info.value.response.status_code == 401
        server = srv.server
        assert server.metrics.value("assistant_connections_total") == 0 and not server.clients
        assert server.metrics.value("assistant_errors_total", code="unauthorized") == 8
        with Memory(tmp_path / "a.db") as memory:
            assert memory.stats() == {"conversations": 0, "turns": 0}
        ok = Client(srv.ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.recv()["type"] == "server.info"
        ok.close()


def test_token_is_compared_in_constant_time():
    import inspect

    import server

    source = inspect.getsource(server.AssistantServer._authorized)
    assert "hmac.compare_digest" in source and "==" not in source


def test_no_token_in_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with running(tmp_path, ServerOptions(port=0, token=TOKEN)) as srv:
        for url, headers in ((srv.ws_url + f"?token={TOKEN}", None), (srv.ws_url + "?token=guess", None),
                             (srv.ws_url, {"Authorization": f"Bearer {TOKEN}"})):
            try:
                c = Client(url, additional_headers=headers)
                c.recv()
                c.close()
            except InvalidStatus:
                pass
        from assistant.ws_client import RemoteSession

        with RemoteSession(srv.ws_url, token=TOKEN) as remote:  # the terminal's client logs redacted too
            assert remote.connect()["type"] == "server.info"
        for path in (f"/metrics?token={TOKEN}", "/metrics?token=guess"):
            try:
                urllib.request.urlopen(srv.http_url + path, timeout=10).read()
            except urllib.error.HTTPError as exc:
                exc.close()
    server_records = [r for r in caplog.records if r.name.startswith(("server", "assistant"))]
    assert any("GET /v1/ws" in r.getMessage() for r in server_records), "the request lines are logged (DEBUG)"
    assert any(r.name == "assistant.ws_client.websockets" and "token=[redacted]" in r.getMessage()
               for r in server_records)
    for record in server_records:
        message = record.getMessage()
        assert TOKEN not in message and "token=guess" not in message, message


def test_frame_rate_limit(tmp_path):
    options = ServerOptions(port=0, max_frames_per_second=50, frame_burst=20)
    with running(tmp_path, options) as srv:
        c = Client(srv.ws_url)
        info = c.recv()
        assert info["limits"]["max_frames_per_second"] == 50 and info["limits"]["frame_burst"] == 20
        for _ in range(60):  # at once: 20 pass, then about one every 20 ms
            c.send({"type": "ping"})
        events = c.until("error")
        error = events[-1]
        assert error["code"] == "rate_limited" and error["fatal"] is False and "dropped" in error["message"]
        time.sleep(0.5)  # the bucket refills
        c.start()  # accepted again; answered after every pong that was due
        pongs = sum(e["type"] == "pong" for e in c.events)
        assert 20 <= pongs < 60
        c.close()
        assert srv.server.metrics.value("assistant_errors_total", code="rate_limited") >= 1


def test_session_timeout_closes_with_a_reason(tmp_path):
    with running(tmp_path, max_session_seconds=0.6) as srv:
        c = Client(srv.ws_url)
        c.recv()
        c.start()
        try:
            while True:  # busy all along: the idle timeout never strikes, the session length does
                c.send({"type": "ping"})
                c.recv(timeout=0.2)
                time.sleep(0.01)
        except ConnectionClosed:
            pass
        with pytest.raises(ConnectionClosed) as info:
            while True:  # what the server sent before it closed
                c.recv(timeout=5)
        assert info.value.rcvd.code == 1000 and info.value.rcvd.reason == "session_timeout"
        assert any(e["type"] == "error" and e["code"] == "session_timeout" for e in c.events)


def test_static_files_never_leave_their_folder(tmp_path):
    web = tmp_path / "web"
    (web / "sub").mkdir(parents=True)
    (web / "index.html").write_text("<h1>hi</h1>")
    (web / "sub" / "page.html").write_text("sub page")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("outside dir")
    os.symlink(secret, web / "link.txt")  # a link out of the folder
    os.symlink(outside, web / "linkdir")
    os.symlink(web / "index.html", web / "inside.html")  # a link that stays inside is fine
    with running(tmp_path, ServerOptions(port=0, web_dir=web)) as srv:
        def get(path):
            try:
                with urllib.request.urlopen(srv.http_url + path, timeout=10) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as exc:
                exc.close()
                return exc.code, b""

        assert get("/") == (200, b"<h1>hi</h1>")
        assert get("/sub/page.html") == (200, b"sub page")
        assert get("/inside.html") == (200, b"<h1>hi</h1>")
        for path in ("/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
                     "/sub/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
                     "/..%5csecret.txt", "/%252e%252e/secret.txt", f"/{secret}", f"//{secret}",
                     f"/%2f{str(secret).lstrip('/')}", "/link.txt", "/linkdir/x.txt", "/linkdir/",
                     "/%00index.html", "/index.html%00.txt", "/.hidden", "/sub/.."):
            status, body = get(path)
            assert status == 404 and b"do not serve" not in body and b"outside dir" not in body, path
