"""Websocket client of the assistant server (wire protocol v1, DESIGN.md section 5).

The one module in `assistant` that imports `websockets` (the terminal's `--url` mode).
It is synchronous on purpose: the terminal is plain threaded code, so this wraps
`websockets.sync.client` with a reader thread that puts every server event on a
queue. Connection problems become `ClientError` subclasses whose message is one
readable line (server unreachable, auth refused, connection lost).
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from .redact import redacting_logger

__all__ = ["ClientError", "ServerUnreachable", "AuthRefused", "ConnectionLost", "RemoteSession", "normalize_url"]

log = logging.getLogger(__name__)

WS_PATH = "/v1/ws"


class ClientError(Exception):
    """A problem talking to the server; `str(exc)` is one line for the user."""


class ServerUnreachable(ClientError):
    pass


class AuthRefused(ClientError):
    pass


class ConnectionLost(ClientError):
    pass


def normalize_url(url: str, token: str | None = None) -> str:
    """`host:port`, `http://host:port` or `ws://host:port[/v1/ws]` -> the websocket URL.

    The token (when given) travels as the `token` query parameter as well as a
    bearer header, so it works with either way the server reads it.
    """
    if not url:
        raise ValueError("the server URL is empty; give e.g. ws://127.0.0.1:8765/v1/ws")
    if "://" not in url:
        url = "ws://" + url
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"URL scheme {parts.scheme!r} in {url!r}; valid choices: ws, wss, http, https")
    if not parts.netloc:
        raise ValueError(f"no host in the server URL {url!r}; give e.g. ws://127.0.0.1:8765/v1/ws")
    path = parts.path if parts.path not in ("", "/") else WS_PATH
    query = parse_qsl(parts.query)
    if token:
        query = [(k, v) for k, v in query if k != "token"] + [("token", token)]
    return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))


class RemoteSession:
    """One websocket connection to the server; events arrive on `next_event`.

    >>> remote = RemoteSession("ws://127.0.0.1:8765/v1/ws")
    >>> info = remote.connect()                 # the server.info event
    >>> started = remote.start(conversation_id=None)
    >>> remote.send({"type": "text.input", "text": "hello"})
    >>> remote.next_event(timeout=10)
    """

    def __init__(self, url: str, token: str | None = None, *, open_timeout: float = 10.0):
        self.url = normalize_url(url, token)
        self.token = token
        self.open_timeout = open_timeout
        self.info: dict[str, Any] = {}
        self._ws: ClientConnection | None = None
        self._events: queue.Queue[dict[str, Any] | BaseException] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._closing = False
        self._send_lock = threading.Lock()

    # ---------------------------------------------------------------- connect
    def connect(self) -> dict[str, Any]:
        """Open the socket and return the server.info event."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        display = self.url.split("?")[0]
        try:
            opening = connect(
                self.url,
                additional_headers=headers,
                open_timeout=self.open_timeout,
                proxy=None,  # a local server: never route through an environment proxy
                max_size=2**22,
                compression=None,
                logger=redacting_logger(f"{__name__}.websockets"),  # its DEBUG lines carry ?token=
            )
            # Entered like `with connect(...)` (websockets 17.1 deprecates plain use); close() ends it.
            self._ws = opening.__enter__()
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                reason = "missing or wrong token (--token)" if status == 401 else "this client is not allowed"
                raise AuthRefused(f"the server at {display} refused the connection: HTTP {status}, {reason}") from None
            raise ServerUnreachable(f"the server at {display} answered HTTP {status}, not a websocket") from None
        except InvalidURI as exc:
            raise ValueError(f"bad server URL {display!r}: {exc}") from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            raise ServerUnreachable(f"cannot reach the server at {display}: {detail}") from None
        self._reader = threading.Thread(target=self._read_loop, name="ws-reader", daemon=True)
        self._reader.start()
        event = self.next_event(timeout=self.open_timeout)
        if event.get("type") == "error":
            raise ClientError(f"the server refused the session: {event.get('message')} ({event.get('code')})")
        if event.get("type") != "server.info":
            log.warning("expected server.info first, got %s", event.get("type"))
        self.info = event
        return event

    def start(self, *, conversation_id: str | None = None, hotwords: list[str] | None = None,
              phrases: list[str] | None = None, vad_mode: str = "client", partials: bool = True, reply: dict | None = None,
              timeout: float = 10.0) -> dict[str, Any]:
        """Send session.start and return session.started (a ClientError for an error event)."""
        message: dict[str, Any] = {
            "type": "session.start",
            "protocol": 1,
            "language": "en",
            "audio": {"sample_rate": 16000, "encoding": "pcm16"},
            "asr": {"partials": partials, "hotwords": list(hotwords or []), "phrases": list(phrases or [])},
            "vad": {"mode": vad_mode},
        }
        if conversation_id:
            message["conversation_id"] = conversation_id
        if reply:
            message["reply"] = reply
        self.send(message)
        while True:
            event = self.next_event(timeout=timeout)
            if event.get("type") == "session.started":
                return event
            if event.get("type") == "error":
                raise ClientError(f"{event.get('message')} ({event.get('code')})")

    # ------------------------------------------------------------------- I/O
    def _read_loop(self) -> None:
        assert self._ws is not None
        try:
            for frame in self._ws:
                if isinstance(frame, bytes):
                    continue  # the server sends no audio back
                try:
                    event = json.loads(frame)
                except json.JSONDecodeError:
                    log.warning("ignoring a frame that is not JSON: %.80r", frame)
                    continue
                self._events.put(event)
            # A clean close by the server.
            if not self._closing:
                rcvd = self._ws.close_rcvd
                why = f" ({rcvd.code} {rcvd.reason})".rstrip() if rcvd and (rcvd.code or rcvd.reason) else ""
                self._events.put(ConnectionLost(f"the server closed the connection{why}"))
        except ConnectionClosed as exc:
            if not self._closing:
                self._events.put(ConnectionLost(f"lost the connection to the server ({exc})"))
        except Exception as exc:  # an unexpected failure reaches the caller, never vanishes
            self._events.put(ConnectionLost(f"lost the connection to the server ({exc.__class__.__name__}: {exc})"))

    def next_event(self, timeout: float | None = None) -> dict[str, Any]:
        """The next server event; `TimeoutError` after `timeout` s, `ConnectionLost` when the socket ends."""
        try:
            item = self._events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no event from the server within {timeout} s") from None
        if isinstance(item, BaseException):
            self._events.put(item)  # every later call sees the same end
            raise item
        return item

    def poll_event(self) -> dict[str, Any] | None:
        """An event that has already arrived, or None."""
        try:
            return self.next_event(timeout=0)
        except TimeoutError:
            return None

    def send(self, message: dict[str, Any]) -> None:
        self._send(json.dumps(message))

    def send_audio(self, pcm16: bytes) -> None:
        self._send(bytes(pcm16))

    def _send(self, data: str | bytes) -> None:
        if self._ws is None:
            raise ConnectionLost("not connected")
        try:
            with self._send_lock:
                self._ws.send(data)
        except ConnectionClosed as exc:
            raise ConnectionLost(f"lost the connection to the server ({exc})") from None

    def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            try:
                self._ws.close()
            except Exception:  # closing a broken socket: nothing left to do
                pass
        if self._reader is not None:
            self._reader.join(timeout=2)

    def __enter__(self) -> "RemoteSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
