"""The websocket server: the only asyncio code of the project.

    python -m server --host 127.0.0.1 --port 8765 [--db data/assistant.db] [--token SECRET]

One port serves
- `/v1/ws`: the websocket of the wire protocol (docs/protocol.md),
- `/`, the files of `assistant/web/`, `/healthz`, `/metrics` (Prometheus text) and
  `/v1/conversations[/ID]` (stored conversations as JSON) over plain HTTP.

Threads: the asyncio event loop only moves bytes. All model work happens in one `ModelWorker`
thread that, each tick, takes the queued audio of every session and recognises it with one
batched `Recognizer.feed_many` call (so throughput grows with load), runs the control messages
in order, and advances every streaming reply by one piece. Partials are greedy; the beam search
(+ LM) of each utterance runs beside the acoustic step, in a child process (`--search-process`, the
default of the command: `speech.search_process`) or in a second thread (`SearchThread`), and is
completed by the worker at the end of the utterance. Events come back to the loop with
`call_soon_threadsafe` and go out through a bounded per-connection queue, so a slow client only
slows itself.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import http
import ipaddress
import json
import logging
import math
import mimetypes
import os
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import prometheus_client
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from assistant import Assistant, AssistantConfig
from assistant import protocol
from assistant.memory import ConversationNotFound
from assistant.protocol import ProtocolError, error_event, event
from assistant.redact import redacting_logger

__all__ = ["AssistantServer", "ServerOptions", "ServerThread", "Metrics", "DatabaseDamaged", "main", "build_parser"]

log = logging.getLogger(__name__)
prometheus_client.disable_created_metrics()  # no `*_created` series beside each counter and histogram

WS_PATH = "/v1/ws"
WEB_DIR = Path(__file__).resolve().parent / "assistant" / "web"
SAMPLE_RATE = protocol.SAMPLE_RATE
SERVER_NAME = "lstm-voice-assistant/0.1"
TIMER_POLL_SECONDS = 0.5  # how often the model worker looks for timers and alarms that came due
MAX_PENDING_COMMANDS = 256  # control messages of one client waiting for the worker before `overloaded`


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"  # interface to listen on
    port: int = 8765  # TCP port; 0 picks a free one
    token: str | None = None  # required bearer token (header or ?token=); None: no auth (loopback only)
    origins: tuple[str, ...] = ()  # browser Origins allowed besides the server's own; "*" allows any
    web_dir: Path = WEB_DIR  # static files served over HTTP
    shutdown_grace_seconds: float = 10.0  # how long shutdown waits for sessions to close
    max_frames_per_second: float = 1000.0  # frames one connection may send per second, sustained (rate limit)
    frame_burst: int = 1000  # frames one connection may send at once above that rate
    batching: bool = True  # recognise all sessions' audio of a tick in one batched step (False: one call each)
    # Admission by measured load (besides AssistantConfig.max_sessions): a new connection gets `busy` when
    # the busier recognition thread (the worker's acoustic step and finals, or the beam search), scaled to
    # one more session, would be more than `admit_utilization` busy, or when audio lately waited more than
    # `admit_max_lag` seconds for recognition. 0 turns a check off.
    # bench/load_test.py on a 2-core AMD EPYC: at 32 sessions (end of speech -> final p95 137 ms) the worker was
    # at most 0.66 busy and audio waited at most 0.17 s; at 64 (p95 1158 ms) 0.80 and 0.75 s.
    admit_utilization: float = 0.6
    admit_max_lag: float = 0.2
    admit_min_sessions: int = 4  # below this many sessions the utilization check admits (its (n+1)/n is noise)
    reply_processes: int = 0  # child processes that generate replies (assistant.reply_process); 0: in this process
    # the beam search (+ LM) of greedy-partial utterances in a child process (speech.search_process) instead
    # of the search thread, which shares this process's GIL with the worker and the event loop
    search_process: bool = False
    # Shortest time between the starts of two recognition ticks while only audio waits (control messages
    # such as audio.end go at once): frames of more sessions then share one batched step. 0: tick as soon
    # as anything arrives.
    tick_seconds: float = 0.0


# ---- metrics -------------------------------------------------------------------------------

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_COUNTERS = {  # name: (help, label names)
    "assistant_sessions_total": ("Sessions started.", ()),
    "assistant_connections_total": ("Websocket connections accepted.", ()),
    "assistant_utterances_total": ("Final transcripts.", ()),
    "assistant_replies_total": ("Replies ended, by finish reason.", ("finish_reason",)),
    "assistant_errors_total": ("Error events sent, by code.", ("code",)),
    "assistant_audio_seconds_total": ("Audio seconds received.", ()),
    "assistant_partials_skipped_total": ("Partial transcripts not sent to a client that reads slowly.", ()),
    "assistant_timers_fired_total": ("Timers and alarms that came due.", ()),
}
_HISTOGRAMS = {  # name: (help, buckets)
    "assistant_first_partial_seconds": ("Utterance start to first partial transcript.", _LATENCY_BUCKETS),
    "assistant_endpoint_to_final_seconds": ("End of speech to final transcript.", _LATENCY_BUCKETS),
    "assistant_final_to_first_token_seconds": ("Final transcript (or typed text) to first reply text.",
                                               _LATENCY_BUCKETS),
    "assistant_recognition_step_seconds": ("One batched recognition step.", _LATENCY_BUCKETS),
    "assistant_recognition_batch_streams": ("Streams recognised per batched step.",
                                            (1, 2, 4, 8, 16, 32, 64, 128, 256)),
    "assistant_worker_tick_seconds": ("One model worker tick (recognition and control messages).",
                                      _LATENCY_BUCKETS),
}


class Metrics:
    """The server's Prometheus metrics (prometheus_client, one registry per server); thread-safe.

    Counters and histograms by name, gauges read by a callback at scrape time; `render()` is the text
    format that `/metrics` serves."""

    def __init__(self) -> None:
        self.started = time.time()
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self._counters = {name: prometheus_client.Counter(name, text, labels, registry=self.registry)
                          for name, (text, labels) in _COUNTERS.items()}
        self._histograms = {name: prometheus_client.Histogram(name, text, buckets=buckets, registry=self.registry)
                            for name, (text, buckets) in _HISTOGRAMS.items()}

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        counter = self._counters[name]
        (counter.labels(**labels) if labels else counter).inc(value)

    def observe(self, name: str, value: float | None) -> None:
        if value is not None:
            self._histograms[name].observe(value)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        prometheus_client.Gauge(name, help_text, registry=self.registry).set_function(read)

    def value(self, name: str, **labels: str) -> float:
        """A counter's current value (0 for a series never incremented)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def render(self) -> str:
        return prometheus_client.generate_latest(self.registry).decode()

    def record(self, events: list[dict[str, Any]]) -> None:
        """Count what a batch of outgoing events says."""
        for evt in events:
            kind = evt["type"]
            if kind == "transcript.final":
                self.inc("assistant_utterances_total")
            elif kind == "reply.done":
                self.inc("assistant_replies_total", finish_reason=evt["finish_reason"])
            elif kind == "error":
                self.inc("assistant_errors_total", code=evt["code"])
            elif kind == "session.started":
                self.inc("assistant_sessions_total")
            elif kind == "metrics":
                for field_name, histogram in (("first_partial_ms", "assistant_first_partial_seconds"),
                                              ("endpoint_to_final_ms", "assistant_endpoint_to_final_seconds"),
                                              ("final_to_first_token_ms", "assistant_final_to_first_token_seconds")):
                    if evt.get(field_name) is not None:
                        self.observe(histogram, evt[field_name] / 1000.0)


# ---- one websocket client ------------------------------------------------------------------

_CLOSE = object()  # sentinel in a send queue: close the websocket after what came before

_WS_LOG = redacting_logger(f"{__name__}.websockets")  # what websockets logs for this server, tokens redacted


@dataclass
class _Command:
    kind: str  # start | audio | audio.end | text | cancel | update | end | close | shutdown
    message: Any = None  # the ClientMessage, or float32 samples for audio
    at: float = field(default_factory=time.perf_counter)  # arrival time


class Client:
    """One websocket connection. Loop side: the send queue and protocol state; worker side: the session."""

    def __init__(self, server: "AssistantServer", ws: ServerConnection):
        self.server = server
        self.ws = ws
        self.id = uuid.uuid4().hex[:8]
        self.loop = asyncio.get_running_loop()
        self.connected_at = time.monotonic()
        self.sequencer = protocol.Sequencer()
        self.outbox: deque[Any] = deque()
        self.outbox_ready = asyncio.Event()
        self.started = False  # loop side: a session.start was accepted for the worker
        self.closing = False
        self.disconnected = False  # loop side: the socket is gone; the session slot is free at once
        self.close_code = 1000
        self.close_reason = ""
        self.done = asyncio.Event()  # the worker has closed the session
        self.last_overload_report = 0.0
        self.overload_rejected_ms = 0.0
        self.rate_tokens = float(server.options.frame_burst)  # token bucket of the frame rate limit
        self.rate_at = time.monotonic()
        self.rate_dropped = 0
        self.last_rate_report = 0.0
        # shared with the worker, under worker.lock
        self.inbox: deque[_Command] = deque()
        self.backlog_samples = 0
        # worker side only
        self.session = None
        self.discard_until_start = False
        self.vad_final = False  # the server's end-of-speech detection sent the last final; no speech since

    # -- outgoing (loop thread) --

    def send_events(self, events: list[dict[str, Any]]) -> None:
        if self.closing:
            return
        limit = self.server.config.send_queue_size
        for evt in events:
            if evt["type"] == "transcript.partial" and len(self.outbox) >= limit * 3 // 4:
                self.server.metrics.inc("assistant_partials_skipped_total")
                continue  # superseded by the next partial or the final anyway
            if len(self.outbox) >= limit:
                self.outbox.clear()
                self.fatal("too_slow", f"{limit} events waiting: the client does not read fast enough", 1008)
                return
            self.outbox.append(evt)
            self.server.metrics.record([evt])
        self.outbox_ready.set()

    def error(self, exc: ProtocolError) -> None:
        self.send_events([error_event(exc.code, exc.message, exc.fatal)])

    def fatal(self, code: str, message: str, close_code: int = 1008) -> None:
        """Send a fatal error and close the connection after the events already queued."""
        if self.closing:
            return
        evt = error_event(code, message, fatal=True)
        self.server.metrics.record([evt])
        self.outbox.append(evt)
        self.close_after(close_code, code)

    def close_after(self, code: int, reason: str) -> None:
        self.closing = True
        self.close_code, self.close_reason = code, reason
        self.outbox.append(_CLOSE)
        self.outbox_ready.set()

    def from_worker(self, events: list[dict[str, Any]]) -> None:
        """Called by the worker thread: hand events to the loop."""
        if events:
            try:
                self.loop.call_soon_threadsafe(self.send_events, events)
            except RuntimeError:  # the loop is gone (shutdown)
                pass

    async def sender(self) -> None:
        try:
            while True:
                while not self.outbox:
                    self.outbox_ready.clear()
                    await self.outbox_ready.wait()
                item = self.outbox.popleft()
                if item is _CLOSE:
                    await self.ws.close(self.close_code, self.close_reason)
                    return
                await self.ws.send(self.sequencer.dump(item))
        except ConnectionClosed:
            return


# ---- load ----------------------------------------------------------------------------------

class LoadMeter:
    """The busy fraction of one thread, averaged over about `window` seconds (exponential decay).

    The thread calls `busy(seconds)` after each piece of work; `utilization()` is busy time over
    wall time, read from any thread."""

    def __init__(self, window: float = 3.0):
        self.window = window
        self._lock = threading.Lock()
        self._busy = 0.0  # decayed busy seconds
        self._span = window  # decayed wall seconds (starts as if idle for a whole window)
        self._at = time.monotonic()

    def _decay(self, now: float) -> None:
        dt = max(0.0, now - self._at)
        keep = math.exp(-dt / self.window)
        self._busy *= keep
        self._span = self._span * keep + self.window * (1.0 - keep)
        self._at = now

    def busy(self, seconds: float) -> None:
        with self._lock:
            self._decay(time.monotonic())
            self._busy += seconds

    def utilization(self) -> float:
        with self._lock:
            self._decay(time.monotonic())
            return min(1.0, self._busy / self._span)


# ---- the beam search thread ----------------------------------------------------------------

class SearchThread(threading.Thread):
    """Runs the beam search (+ LM) of utterances whose partials are greedy, beside the model worker.

    The worker hands over a recognition stream that has new frames; this thread runs
    `stream.decode_pending()` on each, oldest first. The beam search is Python, the acoustic step
    mostly torch kernels that let go of the GIL, so on two cores the two overlap. When an utterance
    ends, the worker's `finish()` decodes whatever is still waiting, so the final never depends on
    how far behind this thread is."""

    def __init__(self, metrics: "Metrics"):
        super().__init__(name="beam-search", daemon=True)
        self.metrics = metrics
        self._cond = threading.Condition()
        self._queue: deque[tuple[Any, float]] = deque()  # (stream, when it was queued)
        self._queued: set[int] = set()
        self._stopping = False
        self.load = LoadMeter()

    def submit(self, stream: Any) -> None:
        with self._cond:
            if id(stream) not in self._queued:
                self._queued.add(id(stream))
                self._queue.append((stream, time.monotonic()))
                if len(self._queue) == 1:  # the thread waits only on an empty queue
                    self._cond.notify()

    def submit_many(self, streams: list[Any]) -> None:
        for stream in streams:
            self.submit(stream)

    @property
    def backlog(self) -> int:
        """Streams waiting for their beam search."""
        return len(self._queue)

    def lag(self) -> float:
        """Seconds the oldest waiting stream has waited (0 when none waits)."""
        with self._cond:
            return time.monotonic() - self._queue[0][1] if self._queue else 0.0

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                stream, _ = self._queue.popleft()
                self._queued.discard(id(stream))
            t0 = time.perf_counter()
            try:
                stream.decode_pending()
            except Exception:  # the stream's finish() reports it again, to its session
                log.exception("beam search failed")
            self.load.busy(time.perf_counter() - t0)
            time.sleep(0)  # let the event loop and the worker take the GIL between streams


# ---- the reply thread ----------------------------------------------------------------------

class ReplyThread(threading.Thread):
    """Generates the replies, one step of each streaming reply in turn, beside the model worker.

    A reply (its first step is the whole beam search of the shipped dialogue model, tens of ms)
    would otherwise stall every session's recognition for that long. The worker hands a reply over
    after it has sent the events that come before it (the final transcript); each step and the
    sending of its events happen under the session's lock, so a barge-in, cancel or close from the
    worker can never overtake a piece already generated."""

    def __init__(self, server: "AssistantServer"):
        super().__init__(name="replies", daemon=True)
        self.server = server
        self._cond = threading.Condition()
        self._replies: dict[Client, Any] = {}  # client -> its streaming Reply
        self._stopping = False
        self.load = LoadMeter()

    def submit(self, client: Client, reply: Any) -> None:
        with self._cond:
            self._replies[client] = reply
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()

    def _ready(self) -> list[tuple[Client, Any]]:
        limit = self.server.config.send_queue_size // 2  # a slow reader's reply waits
        for client, reply in list(self._replies.items()):
            if reply.done:
                del self._replies[client]
        return [(c, r) for c, r in self._replies.items() if len(c.outbox) < limit]

    def run(self) -> None:
        while True:
            with self._cond:
                ready = self._ready()
                while not ready and not self._stopping:
                    self._cond.wait(0.02 if self._replies else None)  # paused for slow readers: poll
                    ready = self._ready()
                if self._stopping:
                    return
            for client, reply in ready:
                t0 = time.perf_counter()
                with reply.session.lock:
                    try:
                        events = reply.step()
                    except Exception:
                        log.exception("reply step failed")
                        events = [error_event("internal", "the reply failed and was cancelled")]
                        if not reply.done:
                            events += reply._finish("cancelled")
                    client.from_worker(events)
                self.load.busy(time.perf_counter() - t0)


# ---- the model worker ----------------------------------------------------------------------

class ModelWorker(threading.Thread):
    """All model work of all sessions, in one thread; recognition batched across sessions."""

    def __init__(self, server: "AssistantServer"):
        super().__init__(name="model-worker", daemon=True)
        self.server = server
        self.assistant: Assistant = server.assistant
        self.lock = threading.Condition()
        self.clients: list[Client] = []
        self._stopping = False
        self._next_timer_check = 0.0  # time.monotonic() of the next look for due timers
        self.load = LoadMeter()  # recognition only (the acoustic step and finals): replies and control messages
        #                          are short per turn; a worker slowed by them shows in the audio lag instead
        self.audio_lag = 0.0  # seconds the oldest audio of the last tick waited for it
        self._lag_peak, self._lag_at = 0.0, time.monotonic()

    def _note_lag(self, lag: float) -> None:
        now = time.monotonic()
        decayed = self._lag_peak * math.exp(-(now - self._lag_at) / 2.0)
        self._lag_peak, self._lag_at = max(lag, decayed), now

    def recent_lag(self) -> float:
        """The longest wait of audio for the worker lately (decays by e every 2 s)."""
        return self._lag_peak * math.exp(-(time.monotonic() - self._lag_at) / 2.0)

    # -- called from the loop --

    def add(self, client: Client) -> None:
        with self.lock:
            self.clients.append(client)

    def submit(self, client: Client, command: _Command) -> None:
        with self.lock:
            client.inbox.append(command)
            if command.kind == "audio":
                client.backlog_samples += command.message.size
            self.lock.notify()

    def disconnect(self, client: Client) -> None:
        """The client is gone: drop what it queued (no half exchange starts), then close its session.

        A reply already streaming is cancelled by the close and stored with what was sent."""
        with self.lock:
            client.inbox.clear()
            client.backlog_samples = 0
            client.inbox.append(_Command("close"))
            self.lock.notify()

    def backlog_seconds(self, client: Client) -> float:
        with self.lock:
            return client.backlog_samples / SAMPLE_RATE

    def stop(self) -> None:
        with self.lock:
            self._stopping = True
            self.lock.notify()

    # -- the thread --

    def _control_waiting(self) -> bool:
        return any(c.inbox and c.inbox[0].kind != "audio" for c in self.clients)

    def run(self) -> None:
        tick_started = 0.0
        while True:
            with self.lock:
                while not self._stopping and not any(c.inbox for c in self.clients):
                    self.lock.wait(TIMER_POLL_SECONDS)  # wake up for due timers
                    if time.monotonic() >= self._next_timer_check:
                        break
                pace = self.server.options.tick_seconds
                while pace > 0 and not self._stopping and not self._control_waiting():
                    left = tick_started + pace - time.monotonic()
                    if left <= 0:
                        break
                    self.lock.wait(left)  # more sessions' frames for this tick's batch
                tick_started = time.monotonic()
                if self._stopping and not any(c.inbox for c in self.clients):
                    return
                audio: list[tuple[Client, np.ndarray, float]] = []
                controls: list[tuple[Client, _Command]] = []
                oldest = None
                for client in self.clients:
                    if not client.inbox:
                        continue
                    if client.inbox[0].kind == "audio":
                        oldest = client.inbox[0].at if oldest is None else min(oldest, client.inbox[0].at)
                        chunks, arrived = [], 0.0
                        while client.inbox and client.inbox[0].kind == "audio":
                            command = client.inbox.popleft()
                            chunks.append(command.message)
                            arrived = command.at
                        samples = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
                        client.backlog_samples -= samples.size
                        audio.append((client, samples, arrived))
                    else:
                        controls.append((client, client.inbox.popleft()))
            if time.monotonic() >= self._next_timer_check:
                self._next_timer_check = time.monotonic() + TIMER_POLL_SECONDS
                self._deliver_timers()
            t0 = time.perf_counter()
            self.audio_lag = t0 - oldest if oldest is not None else 0.0
            try:
                self._tick(audio, controls)
            except Exception:  # never let the worker die; the sessions get an error each
                log.exception("model worker tick failed")
                for client in {item[0] for item in audio + controls}:
                    client.from_worker([error_event("internal", "the server failed processing this session")])
            spent = time.perf_counter() - t0
            if oldest is not None:
                self._note_lag(self.audio_lag)
            self.server.metrics.observe("assistant_worker_tick_seconds", spent)

    def _tick(self, audio: list[tuple[Client, np.ndarray, float]], controls: list[tuple[Client, _Command]]) -> None:
        metrics = self.server.metrics
        work = [(c, x, at) for c, x, at in audio if c.session is not None and not c.discard_until_start]
        for client, _, _ in audio:
            if client.session is None or client.discard_until_start:
                client.from_worker([error_event("not_started", "audio discarded: no session is running")])
        if work:
            t0 = time.perf_counter()
            groups = [work] if self.server.options.batching else [[item] for item in work]
            results = []
            for group in groups:
                try:
                    results.extend(self.assistant.feed_many([(c.session, x, at) for c, x, at in group]))
                except Exception:
                    log.exception("batched recognition failed")
                    results.extend([error_event("internal", "recognition failed for this audio")] for _ in group)
            spent = time.perf_counter() - t0
            self.load.busy(spent)
            metrics.observe("assistant_recognition_step_seconds", spent)
            metrics.observe("assistant_recognition_batch_streams", len(groups[0]))
            for (client, _, _), events in zip(work, results):
                for evt in events:
                    if evt["type"] in ("vad.speech_started", "transcript.final"):
                        client.vad_final = evt["type"] == "transcript.final"
                self._send_then_reply(client, events, self._maybe_reply(client, events))
        for client, command in controls:
            reply = None
            try:
                events, reply = self._control(client, command)
            except ProtocolError as exc:
                events = [error_event(exc.code, exc.message, exc.fatal)]
            except Exception:
                log.exception("%s failed for client %s", command.kind, client.id)
                events = [error_event("internal", f"{command.kind} failed on the server")]
            self._send_then_reply(client, events, reply)

    def _send_then_reply(self, client: Client, events: list[dict[str, Any]], reply: Any) -> None:
        """Send the events, then (after them) hand the reply they led to, if any, to the reply thread."""
        session = client.session
        if reply is None or session is None:
            client.from_worker(events)
            return
        with session.lock:  # the reply thread cannot send a piece of it before these events
            client.from_worker(events)
            self.server.replies.submit(client, reply)

    def _deliver_timers(self) -> None:
        """Send each timer or alarm that came due to the sessions of its conversation. One whose
        conversation has no session here stays undelivered; it is sent, marked late, on resume."""
        try:
            due = self.assistant.due_timer_events()
        except Exception:
            log.exception("checking timers failed")
            return
        for conversation_id, timer_event in due:
            targets = [c for c in self.clients if c.session is not None and c.session.conversation_id == conversation_id]
            for client in targets:
                client.from_worker([dict(timer_event)])
            if targets:
                self.assistant.delivered(timer_event)
            self.server.metrics.inc("assistant_timers_fired_total")

    def _maybe_reply(self, client: Client, events: list[dict[str, Any]]) -> Any:
        """Start the reply to a final transcript among `events` (the reply thread generates it)."""
        session = client.session
        if session is not None and session.last_final is not None and any(
                e["type"] == "transcript.final" for e in events):
            return session.respond()
        return None

    def _control(self, client: Client, command: _Command) -> tuple[list[dict[str, Any]], Any]:
        """The events of one control message, and the reply it started (or None)."""
        events = self._control_events(client, command)
        return events if isinstance(events, tuple) else (events, None)

    def _control_events(self, client: Client, command: _Command) -> list[dict[str, Any]] | tuple:
        kind, message = command.kind, command.message
        if kind == "start":
            client.discard_until_start = False
            client.vad_final = False
            try:
                session = self.assistant.open_session(message.get("conversation_id"), asr=message.get("asr"),
                                                      vad=message.get("vad"), reply=message.get("reply"))
            except ProtocolError as exc:
                client.discard_until_start = True
                client.loop.call_soon_threadsafe(setattr, client, "started", False)
                return [error_event(exc.code, exc.message)]
            except sqlite3.Error as exc:  # a read-only file, a full disk: this start fails, the server goes on
                log.error("client %s: session.start failed in the database: %s", client.id, exc)
                client.discard_until_start = True
                client.loop.call_soon_threadsafe(setattr, client, "started", False)
                return [error_event("storage_error", f"the conversation store failed ({exc}); no session started")]
            client.session = session
            return [session.started_event(), *session.late_timer_events()]
        if kind in ("close", "shutdown", "end"):
            events: list[dict[str, Any]] = []
            if client.session is not None:
                events = client.session.close()
                reason = {"close": "disconnected", "shutdown": "shutdown", "end": "client"}[kind]
                events.append(event("session.ended", session_id=client.session.id, reason=reason))
                client.session = None
            if kind == "close":
                with self.lock:
                    if client in self.clients:
                        self.clients.remove(client)
            if kind != "end":  # the events first, then done (call_soon_threadsafe keeps the order)
                client.from_worker(events)
                client.loop.call_soon_threadsafe(client.done.set)
                return []
            return events
        session = client.session
        if session is None or client.discard_until_start:
            return [error_event("not_started", f"{kind} discarded: no session is running")]
        if kind == "audio.end":
            if client.vad_final and not session.speaking and session.settings.vad_mode == "server":
                return []  # the server already ended this utterance (its final went out): a documented no-op
            client.vad_final = False
            t0 = time.perf_counter()
            events = session.end_utterance(endpoint_at=command.at)
            self.load.busy(time.perf_counter() - t0)
            return events, self._maybe_reply(client, events)
        if kind == "text":
            return [], session.respond(message.get("text"), received_at=command.at)
        if kind == "cancel":
            return session.cancel_reply(message.get("reply_id"), reason="cancelled")
        if kind == "update":
            return [session.update(asr=message.get("asr"), vad=message.get("vad"), reply=message.get("reply"))]
        raise AssertionError(f"unknown command {kind}")


# ---- the server ----------------------------------------------------------------------------

class DatabaseDamaged(RuntimeError):
    """The conversation database failed SQLite's integrity check; the server does not start on it."""


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AssistantServer:
    """The websocket + HTTP server around one `Assistant`."""

    def __init__(self, assistant: Assistant, options: ServerOptions | None = None):
        self.assistant = assistant
        self.config: AssistantConfig = assistant.config
        self.options = options or ServerOptions()
        if self.options.token is None and not _is_loopback(self.options.host):
            raise ValueError(f"--host {self.options.host} is not a loopback address: a --token (or ASSISTANT_TOKEN) "
                             "is required")
        self.metrics = Metrics()
        self.clients: set[Client] = set()
        self.worker = ModelWorker(self)
        self.search = SearchThread(self.metrics)
        self.replies = ReplyThread(self)
        self._sessions_avg, self._sessions_at = 0.0, time.monotonic()  # sessions, averaged like the load
        assistant.search_later = self.search.submit_many
        self.server: Server | None = None
        self.stopping = False
        self.metrics.gauge("assistant_sessions_active", "Open websocket sessions.", self.active_sessions)
        self.metrics.gauge("assistant_uptime_seconds", "Seconds since the server started.",
                           lambda: time.time() - self.metrics.started)
        self.metrics.gauge("assistant_max_sessions", "Configured session limit.", lambda: self.config.max_sessions)
        self.metrics.gauge("assistant_worker_utilization", "Busy fraction of the model worker with recognition, last seconds.",
                           self.worker.load.utilization)
        self.metrics.gauge("assistant_search_utilization",
                           "Busy fraction of the beam search (thread or process, the busier), last seconds.",
                           lambda: self.load()["search_utilization"])
        self.metrics.gauge("assistant_audio_lag_seconds", "Longest recent wait of audio for recognition.",
                           lambda: self.load()["audio_lag_seconds"])

    def active_sessions(self) -> int:
        """Connected clients. One that disconnected no longer counts, though the worker may still be
        closing its session (the session limit is about sockets, not cleanup)."""
        return sum(1 for c in self.clients if not c.disconnected and c.ws.state is State.OPEN)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = self.options.host if ":" not in self.options.host else f"[{self.options.host}]"
        return f"http://{host}:{self.port}/"

    def limits(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "max_frame_bytes": cfg.max_frame_bytes, "max_frame_ms": cfg.max_frame_bytes * 1000 // (2 * SAMPLE_RATE),
            "min_frame_ms": 10, "max_message_bytes": cfg.max_message_bytes, "max_text_chars": cfg.max_text_chars,
            "max_session_seconds": cfg.max_session_seconds, "idle_timeout_seconds": cfg.idle_timeout_seconds,
            "max_sessions": cfg.max_sessions, "max_backlog_seconds": cfg.max_backlog_seconds,
            "max_list_items": protocol.MAX_LIST_ITEMS, "max_list_item_chars": protocol.MAX_LIST_ITEM_CHARS,  # asr.hotwords, asr.phrases
            "max_frames_per_second": self.options.max_frames_per_second, "frame_burst": self.options.frame_burst,
        }

    async def start(self) -> None:
        damage = await asyncio.to_thread(self.assistant.memory.damage)  # PRAGMA integrity_check
        if damage:
            message = (f"the database {self.assistant.memory.path} is damaged ({damage[0]}); restore a backup "
                       "(made with `assistant backup`) or move the file aside")
            log.error(message)
            raise DatabaseDamaged(message)
        if self.options.reply_processes:
            from assistant.reply_process import RemoteResponder

            self._local_responder = self.assistant.responder
            self.assistant.responder = await asyncio.to_thread(RemoteResponder, self.assistant.responder,
                                                               self.options.reply_processes)
        if self.options.search_process and self.config.greedy_partials:
            recognizer = self.assistant.recognizer
            if await asyncio.to_thread(recognizer.start_search_process):
                self.assistant.search_later = self._search_later
                log.info("beam search in a child process (pid %d)", recognizer.search_process.pid)
        await asyncio.to_thread(self._warm_up)
        self.worker.start()
        self.search.start()
        self.replies.start()
        cfg = self.config
        self.server = await serve(
            self.handler, self.options.host, self.options.port,
            process_request=self.process_request,
            max_size=max(cfg.max_frame_bytes, cfg.max_message_bytes) * 4,  # ours answer too_large first
            max_queue=64,
            compression=None,  # audio does not compress; saves CPU
            server_header=SERVER_NAME,
            logger=_WS_LOG,
        )
        log.info("listening on %s", self.url)

    def _warm_up(self) -> None:
        """One short utterance through the recognizer before the first client: the first model calls pay
        for lazy initialisation (hundreds of ms), which the load measurement would take for load."""
        try:
            stream = self.assistant.recognizer.stream(defer_search=self.config.greedy_partials)
            rng = np.random.default_rng(0)
            stream.feed((0.01 * rng.standard_normal(SAMPLE_RATE // 2)).astype(np.float32))
            stream.finish()
        except Exception:  # a recognizer that cannot warm up will say so to the first session
            log.exception("warming up the recognizer failed")

    async def stop(self) -> None:
        """Graceful shutdown: stop accepting, cancel replies (storing what was sent), close sessions,
        stop the worker, close the database."""
        if self.stopping:
            return
        self.stopping = True
        assert self.server is not None
        self.server.close(close_connections=False)  # stop listening now
        clients = list(self.clients)
        for client in clients:
            self.worker.submit(client, _Command("shutdown"))
        if clients:
            await asyncio.wait([asyncio.ensure_future(c.done.wait()) for c in clients],
                               timeout=self.options.shutdown_grace_seconds)
        for client in clients:
            client.send_events([error_event("shutting_down", "the server is stopping", fatal=True)])
            client.close_after(1001, "server shutdown")
        try:
            await asyncio.wait_for(self.server.wait_closed(), self.options.shutdown_grace_seconds)
        except asyncio.TimeoutError:
            log.warning("connections still open after %.0f s; closing them", self.options.shutdown_grace_seconds)
            self.server.close(close_connections=True)
            await self.server.wait_closed()
        self.worker.stop()
        await asyncio.to_thread(self.worker.join, 30)
        self.search.stop()
        await asyncio.to_thread(self.search.join, 30)
        self.replies.stop()
        await asyncio.to_thread(self.replies.join, 30)
        if self.options.reply_processes:
            remote, self.assistant.responder = self.assistant.responder, self._local_responder
            await asyncio.to_thread(remote.close)
        self.assistant.search_later = None
        if self.options.search_process:
            await asyncio.to_thread(self.assistant.recognizer.stop_search_process)
        self.assistant.close()
        log.info("stopped")

    # -- HTTP --

    def _authorized(self, request: Request) -> bool:
        token = self.options.token
        if token is None:
            return True
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else None
        if given is None:
            given = (parse_qs(urlsplit(request.path).query).get("token") or [None])[0]
        return given is not None and hmac.compare_digest(given.encode(), token.encode())

    def _origin_allowed(self, request: Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:  # not a browser
            return True
        allowed = self.options.origins
        if "*" in allowed or origin in allowed:
            return True
        host = request.headers.get("Host", "")
        return origin in (f"http://{host}", f"https://{host}")

    @staticmethod
    def _response(status: int, body: bytes | str, content_type: str = "text/plain; charset=utf-8",
                  headers: dict[str, str] | None = None) -> Response:
        if isinstance(body, str):
            body = body.encode()
        code = http.HTTPStatus(status)
        hdrs = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                        ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                        ("Connection", "close")])
        for key, value in (headers or {}).items():
            hdrs[key] = value
        return Response(code.value, code.phrase, hdrs, body)

    def _json(self, status: int, data: Any) -> Response:
        return self._response(status, json.dumps(data, ensure_ascii=False), "application/json")

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == WS_PATH:
            if not self._authorized(request):
                self.metrics.inc("assistant_errors_total", code="unauthorized")
                return self._response(401, "unauthorized: send Authorization: Bearer TOKEN or ?token=TOKEN\n",
                                      headers={"WWW-Authenticate": "Bearer"})
            if not self._origin_allowed(request):
                self.metrics.inc("assistant_errors_total", code="forbidden_origin")
                return self._response(403, f"forbidden_origin: {request.headers.get('Origin')} is not allowed\n")
            if self.stopping:
                return self._response(503, "shutting_down\n")
            return None  # the websocket handshake goes on
        if path == "/healthz":
            status = "stopping" if self.stopping else "ok"
            return self._json(503 if self.stopping else 200, {"status": status, "sessions": self.active_sessions(),
                                                              "max_sessions": self.config.max_sessions,
                                                              "accepting": not self.stopping and self.refusal() is None,
                                                              "load": self.load()})
        if path == "/metrics" or path.startswith("/v1/conversations"):
            if not self._authorized(request):
                return self._response(401, "unauthorized\n", headers={"WWW-Authenticate": "Bearer"})
            if path == "/metrics":
                return self._response(200, self.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
            return await self._conversations(path)
        return self._static(path)

    async def _conversations(self, path: str) -> Response:
        memory = self.assistant.memory
        rest = path[len("/v1/conversations"):].strip("/")
        if not rest:
            items = await asyncio.to_thread(memory.list_conversations, 100)
            return self._json(200, {"conversations": items})
        try:
            return self._json(200, await asyncio.to_thread(memory.export_conversation, unquote(rest)))
        except ConversationNotFound as exc:
            return self._json(404, {"error": "unknown_conversation", "message": str(exc)})

    def _static(self, path: str) -> Response:
        root = self.options.web_dir.resolve()
        name = unquote(path).lstrip("/") or "index.html"
        if "\x00" in name or any(part in ("..",) or part.startswith(".") for part in Path(name).parts):
            return self._response(404, "not found\n")
        target = (root / name).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(root) or not target.is_file():
            return self._response(404, "not found\n")
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        return self._response(200, target.read_bytes(), content_type, headers={"Cache-Control": "no-cache"})

    # -- websocket --

    def _search_later(self, streams: list[Any]) -> None:
        """Where utterances' new frames go for the beam search: the search process, one message for all
        streams that use it, else the search thread (a stream started after the process failed)."""
        remote = [s for s in streams if s.searched_remotely]
        if remote:
            self.assistant.recognizer.decode_pending_many(remote)
        self.search.submit_many([s for s in streams if not s.searched_remotely])

    def load(self) -> dict[str, float]:
        """What the admission check reads: the model threads' busy fractions and how late audio is."""
        process = self.assistant.recognizer.search_process  # None unless started (and alive)
        search_busy = max(self.search.load.utilization(), process.utilization() if process else 0.0)
        search_lag = max(self.search.lag(), process.lag() if process else 0.0)
        return {"worker_utilization": round(self.worker.load.utilization(), 3),
                "search_utilization": round(search_busy, 3),
                "audio_lag_seconds": round(max(self.worker.recent_lag(), search_lag), 3)}

    def refusal(self) -> str | None:
        """Why a new session would be refused now (`busy`), or None to admit it."""
        n, cfg, opts = self.active_sessions(), self.config, self.options
        if n >= cfg.max_sessions:
            return f"the server has its maximum of {cfg.max_sessions} sessions; try again later"
        load = self.load()
        busiest = max(load["worker_utilization"], load["search_utilization"])
        # The load is averaged over seconds, so sessions that just joined are not in it yet: the cost per
        # session is the load over the session count averaged the same way, and it is charged to every
        # session now open, plus the new one (a burst of connections is refused before it shows as load).
        now = time.monotonic()
        keep = math.exp(-(now - self._sessions_at) / self.worker.load.window)
        self._sessions_avg = self._sessions_avg * keep + n * (1.0 - keep)
        self._sessions_at = now
        projected = busiest / max(self._sessions_avg, 1.0) * (n + 1)
        if opts.admit_utilization > 0 and n >= opts.admit_min_sessions and projected > opts.admit_utilization:
            return (f"the server is at its measured capacity ({n} sessions keep its model threads "
                    f"{busiest:.0%} busy); try again later")
        if opts.admit_max_lag > 0 and load["audio_lag_seconds"] > opts.admit_max_lag:
            return (f"the server is behind real time (audio waited {load['audio_lag_seconds']:.2f} s for "
                    "recognition); try again later")
        return None

    async def handler(self, ws: ServerConnection) -> None:
        client = Client(self, ws)
        refusal = None if self.stopping else self.refusal()
        if refusal is not None or self.stopping:
            code = "shutting_down" if self.stopping else "busy"
            text = "the server is stopping" if self.stopping else refusal
            try:
                await ws.send(client.sequencer.dump(error_event(code, text, fatal=True)))
                await ws.close(1013, code)
            except ConnectionClosed:
                pass
            self.metrics.inc("assistant_errors_total", code=code)
            return
        self.clients.add(client)
        self.metrics.inc("assistant_connections_total")
        self.worker.add(client)
        sender = asyncio.create_task(client.sender())
        client.send_events([event("server.info", protocol=protocol.PROTOCOL_VERSION, server=SERVER_NAME,
                                  models=self.assistant.info(),
                                  audio={"sample_rate": SAMPLE_RATE, "encoding": protocol.ENCODING},
                                  limits=self.limits())])
        try:
            await self._receive(client)
        finally:
            client.disconnected = True
            self.worker.disconnect(client)
            try:
                await asyncio.wait_for(client.done.wait(), 30)
            except asyncio.TimeoutError:
                log.warning("client %s: the worker did not close its session in time", client.id)
            if not client.closing:
                client.close_after(1000, "")
            try:
                await asyncio.wait_for(sender, 10)
            except (asyncio.TimeoutError, ConnectionClosed):
                sender.cancel()
            self.clients.discard(client)

    async def _receive(self, client: Client) -> None:
        cfg = self.config
        last = time.monotonic()
        while not client.closing:
            now = time.monotonic()
            idle_left = cfg.idle_timeout_seconds - (now - last)
            session_left = cfg.max_session_seconds - (now - client.connected_at)
            try:
                frame = await asyncio.wait_for(client.ws.recv(), timeout=max(0.0, min(idle_left, session_left)))
            except asyncio.TimeoutError:
                if session_left <= idle_left:
                    client.fatal("session_timeout", f"sessions last at most {cfg.max_session_seconds:g} s", 1000)
                else:
                    client.fatal("idle_timeout", f"nothing received for {cfg.idle_timeout_seconds:g} s", 1000)
                return
            except ConnectionClosed:
                return
            if client.ws.state is not State.OPEN:  # frames that came before the client closed: no one to answer
                return
            last = time.monotonic()
            if not self._within_rate(client, last):
                continue
            try:
                self._on_frame(client, frame)
            except ProtocolError as exc:
                client.error(exc)

    def _within_rate(self, client: Client, now: float) -> bool:
        """Token bucket per connection: `max_frames_per_second` sustained, `frame_burst` at once. A frame over
        it is dropped, not parsed, with a `rate_limited` error (at most one a second, with the count so far)."""
        opts = self.options
        client.rate_tokens = min(float(opts.frame_burst),
                                 client.rate_tokens + (now - client.rate_at) * opts.max_frames_per_second)
        client.rate_at = now
        if client.rate_tokens >= 1.0:
            client.rate_tokens -= 1.0
            return True
        client.rate_dropped += 1
        if now - client.last_rate_report >= 1.0:
            client.last_rate_report = now
            client.error(ProtocolError("rate_limited", f"over {opts.max_frames_per_second:g} frames a second "
                                                       f"(burst {opts.frame_burst}): {client.rate_dropped} frames "
                                                       "dropped so far; slow down"))
        return False

    def _on_frame(self, client: Client, frame: str | bytes) -> None:
        cfg = self.config
        message = protocol.parse(frame, max_audio_bytes=cfg.max_frame_bytes, max_message_bytes=cfg.max_message_bytes,
                                 max_text_chars=cfg.max_text_chars)
        kind = message.type
        if kind == "ping":
            client.send_events([event("pong")])
            return
        if kind == "session.start":
            if client.started:
                raise ProtocolError("already_started", "a session is running; send session.end first")
            client.started = True
            self.worker.submit(client, _Command("start", message))
            return
        if not client.started:
            raise ProtocolError("not_started", f"send session.start before {kind}")
        if kind != "binary" and len(client.inbox) >= MAX_PENDING_COMMANDS:
            raise ProtocolError("overloaded", f"{len(client.inbox)} messages wait for the model worker; "
                                              f"this {kind} was not accepted")
        if kind == "binary":
            samples = np.frombuffer(message.data, dtype="<i2").astype(np.float32) / 32768.0
            backlog = self.worker.backlog_seconds(client)
            if backlog + samples.size / SAMPLE_RATE > cfg.max_backlog_seconds:
                client.overload_rejected_ms += message.duration_ms
                now = time.monotonic()
                if now - client.last_overload_report >= 1.0:  # at most one report a second, with the total
                    client.last_overload_report = now
                    raise ProtocolError("overloaded", f"{backlog:.1f} s of audio waiting for recognition; "
                                                      f"{client.overload_rejected_ms:.0f} ms of audio not accepted so "
                                                      "far: slow down or retry")
                return
            self.metrics.inc("assistant_audio_seconds_total", samples.size / SAMPLE_RATE)
            self.worker.submit(client, _Command("audio", samples))
        elif kind == "audio.end":
            self.worker.submit(client, _Command("audio.end"))
        elif kind == "text.input":
            if not message.get("text", "").strip():
                raise ProtocolError("bad_field", "text.input needs a non-empty `text`")
            self.worker.submit(client, _Command("text", message))
        elif kind == "reply.cancel":
            self.worker.submit(client, _Command("cancel", message))
        elif kind == "session.update":
            self.worker.submit(client, _Command("update", message))
        elif kind == "session.end":
            client.started = False
            self.worker.submit(client, _Command("end"))
        else:  # pragma: no cover - parse() only returns known types
            raise AssertionError(kind)


# ---- running it ----------------------------------------------------------------------------

class ServerThread:
    """A server in a background thread with its own event loop (tests, notebooks, benchmarks).

        with ServerThread(assistant) as srv:
            url = srv.ws_url
    """

    def __init__(self, assistant: Assistant, options: ServerOptions | None = None):
        options = options or ServerOptions(port=0)
        self.server = AssistantServer(assistant, options)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="assistant-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> "ServerThread":
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(60)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{WS_PATH}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    defaults = AssistantConfig()
    p = argparse.ArgumentParser(prog="assistant serve", description="Run the voice assistant websocket server.")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1; any other "
                                                         "address needs --token)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0 picks a free one)")
    p.add_argument("--db", default=defaults.db_path, help=f"conversation database (default {defaults.db_path})")
    p.add_argument("--speech-model", default=defaults.speech_model, help="speech model name or checkpoint path")
    p.add_argument("--speech-int8", action=argparse.BooleanOptionalAction, default=None,
                   help="int8 weights for the speech model: about 3x less CPU per stream at the same beam+LM WER "
                        "(default: the model's choice; the shipped model runs int8)")
    p.add_argument("--dialogue-model", default=defaults.dialogue_model, help="dialogue model name or checkpoint")
    p.add_argument("--token", default=None, help="required client token (default: $ASSISTANT_TOKEN)")
    p.add_argument("--origins", default="", help="comma-separated browser Origins allowed besides the server's "
                                                 "own ('*' for any)")
    p.add_argument("--max-sessions", type=int, default=defaults.max_sessions, help="concurrent sessions")
    p.add_argument("--history-turns", type=int, default=defaults.history_turns, help="stored turns given to "
                                                                                     "the dialogue model")
    p.add_argument("--vad", choices=("server", "client"), default=defaults.vad_mode, help="default VAD mode")
    p.add_argument("--silence-ms", type=int, default=defaults.silence_ms, help="silence that ends an utterance")
    p.add_argument("--idle-timeout", type=float, default=defaults.idle_timeout_seconds, help="seconds")
    p.add_argument("--max-session-seconds", type=float, default=defaults.max_session_seconds, help="seconds")
    p.add_argument("--max-text-chars", type=int, default=defaults.max_text_chars, help="longest text.input")
    p.add_argument("--max-frames-per-second", type=float, default=ServerOptions.max_frames_per_second,
                   help="frames one connection may send per second before `rate_limited` (default %(default)g)")
    p.add_argument("--frame-burst", type=int, default=ServerOptions.frame_burst,
                   help="frames one connection may send at once above that rate (default %(default)s)")
    p.add_argument("--admit-utilization", type=float, default=ServerOptions.admit_utilization,
                   help="refuse new sessions (busy) when the busier model thread, scaled to one more session, "
                        "would be busier than this fraction (default %(default)g; 0: off)")
    p.add_argument("--admit-max-lag", type=float, default=ServerOptions.admit_max_lag,
                   help="refuse new sessions (busy) when audio lately waited longer than this many seconds "
                        "for recognition (default %(default)g; 0: off)")
    p.add_argument("--reply-processes", type=int, default=1,
                   help="child processes that generate replies, beside recognition on another core "
                        "(default %(default)s; 0: in the server's process)")
    p.add_argument("--search-process", action=argparse.BooleanOptionalAction, default=True,
                   help="run the beam search (+ LM) in a child process, on another core than the acoustic model "
                        "and the event loop (default: on)")
    p.add_argument("--tick-ms", type=float, default=30.0,
                   help="shortest time between two recognition ticks while only audio waits, so that more "
                        "sessions share one batched step (default %(default)g; 0: tick at once)")
    p.add_argument("--no-batching", dest="batching", action="store_false",
                   help="recognise each session's audio with its own model call instead of one batched step per "
                        "tick (for comparison in bench/load_test.py)")
    p.add_argument("--timezone", default=None, help="IANA time zone for the clock, timers and alarms, e.g. "
                                                   "Europe/Paris (default: this machine's)")
    p.add_argument("--decoding", default=None, help='reply DecodingOptions as JSON, e.g. \'{"strategy": "beam"}\'')
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for the acoustic model (default 1: the beam search thread, the reply "
                        "process and the event loop need the other cores; on 2 cores 64 sessions had p95 end of "
                        "speech -> final 536 ms with 1 thread, 1483 ms with 2)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = args.token or os.environ.get("ASSISTANT_TOKEN") or None
    if token is None and not _is_loopback(args.host):
        print(f"assistant serve: --host {args.host} is reachable from other machines; set --token or "
              "ASSISTANT_TOKEN", file=sys.stderr)
        return 2
    try:
        decoding = json.loads(args.decoding) if args.decoding else {}
        config = AssistantConfig(speech_model=args.speech_model, speech_int8=args.speech_int8,
                                 dialogue_model=args.dialogue_model, db_path=args.db,
                                 history_turns=args.history_turns, max_sessions=args.max_sessions,
                                 vad_mode=args.vad, silence_ms=args.silence_ms,
                                 idle_timeout_seconds=args.idle_timeout, max_session_seconds=args.max_session_seconds,
                                 max_text_chars=args.max_text_chars, decoding=decoding, timezone=args.timezone)
    except (ValueError, json.JSONDecodeError) as exc:
        print(f"assistant serve: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        assistant = Assistant.load(config)
    except (FileNotFoundError, ValueError) as exc:
        print(f"assistant serve: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:
        print(f"assistant serve: the database {args.db} cannot be opened ({exc}); restore a backup or move the "
              "file aside", file=sys.stderr)
        return 2
    if args.reply_processes < 0:
        print("assistant serve: --reply-processes must be >= 0", file=sys.stderr)
        return 2
    if args.admit_utilization < 0 or args.admit_max_lag < 0:
        print("assistant serve: --admit-utilization and --admit-max-lag must be >= 0 (0: off)", file=sys.stderr)
        return 2
    if args.tick_ms < 0:
        print("assistant serve: --tick-ms must be >= 0", file=sys.stderr)
        return 2
    if args.max_frames_per_second <= 0 or args.frame_burst < 1:
        print("assistant serve: --max-frames-per-second must be > 0 and --frame-burst >= 1", file=sys.stderr)
        return 2
    options = ServerOptions(host=args.host, port=args.port, token=token,
                            origins=tuple(o.strip() for o in args.origins.split(",") if o.strip()),
                            max_frames_per_second=args.max_frames_per_second, frame_burst=args.frame_burst,
                            batching=args.batching, admit_utilization=args.admit_utilization,
                            admit_max_lag=args.admit_max_lag, reply_processes=args.reply_processes,
                            search_process=args.search_process, tick_seconds=args.tick_ms / 1000)
    try:
        return asyncio.run(_serve(assistant, options))
    except DatabaseDamaged as exc:
        assistant.close()
        print(f"assistant serve: {exc}", file=sys.stderr)
        return 2


async def _serve(assistant: Assistant, options: ServerOptions) -> int:
    server = AssistantServer(assistant, options)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"Assistant server ready: open {server.url}  (websocket {server.url.replace('http', 'ws', 1)}"
          f"{WS_PATH.lstrip('/')})", flush=True)
    await stop.wait()
    print("Shutting down...", flush=True)
    await server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
