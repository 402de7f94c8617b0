"""The beam search (+ LM) of many recognition streams in a child process.

The beam search is pure Python: in the server's process it holds the GIL that the acoustic model's
batched step, the websocket loop and the reply bookkeeping need, so on two cores the server used about
one. `SearchProcess` runs the same `BeamSearchDecoder` in a process of its own:

- a stream opens a search (`open`), ships the log posteriors of its new frames as they come (`feed`,
  one pipe message per call, any number of streams; a writer thread does the sending, so the caller
  never waits for a full pipe), and at the end of the utterance asks for the hypotheses (`finish`,
  blocking until the child has read the stream's last frame);
- the child reads every message that has arrived, answers waiting `finish` requests first (each needs
  only its own stream's unread frames), then searches the stream whose frames have waited longest;
- it reports how busy it is and how long frames wait (`utilization`, `lag`), which the server's
  admission control reads like its own threads' load.

Results equal the in-process search (same decoder, same frames in the same order). If the child dies
or does not answer in time, `finish` raises `SearchUnavailable` and the caller decodes the frames
itself (`speech.recognizer.RecognitionStream` keeps them for that); later streams search locally.
"""
from __future__ import annotations

import itertools
import logging
import math
import multiprocessing as mp
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Sequence

import numpy as np

from .decoder import BeamSearchDecoder, Hypothesis

__all__ = ["SearchProcess", "SearchUnavailable"]

log = logging.getLogger(__name__)

REPORT_SECONDS = 0.1  # the child reports its load at most this often while it works
LOAD_SPAN = 3.0  # seconds over which utilization is averaged (as the server's LoadMeter)


class SearchUnavailable(RuntimeError):
    """The search process is gone or did not answer in time; decode locally."""


class SearchProcess:
    """A child process running `decoder`'s beam search for many streams (see the module docstring)."""

    def __init__(self, decoder: BeamSearchDecoder, *, start_timeout: float = 120.0):
        if not isinstance(decoder, BeamSearchDecoder):
            raise ValueError(f"SearchProcess needs a BeamSearchDecoder, got {type(decoder).__name__}")
        ctx = mp.get_context("spawn")  # no fork: the parent holds threads and torch's thread pools
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, decoder), name="beam-search", daemon=True)
        self._proc.start()
        child.close()
        self._send_lock = threading.Condition()
        self._outbox: deque[tuple[float, tuple]] = deque()  # (when queued, message), sent in order by _write
        self._sending_since: float | None = None
        self._ids = itertools.count(1)
        self._futures: dict[int, Future] = {}
        self._futures_lock = threading.Lock()
        self._abandoned: deque[int] = deque()  # searches to close, sent before the next message
        self._alive = True
        self._stopping = False
        self._busy, self._busy_at = 0.0, time.monotonic()  # decaying busy seconds, as LoadMeter
        self._lag, self._lag_at = 0.0, time.monotonic()
        if not self._conn.poll(start_timeout):
            self._proc.kill()
            raise RuntimeError(f"the beam search process did not start within {start_timeout:g} s")
        ready = self._conn.recv()
        if ready != ("ready",):
            self._proc.kill()
            raise RuntimeError(f"the beam search process failed to start: {ready!r}")
        self._reader = threading.Thread(target=self._read, name="beam-search-results", daemon=True)
        self._reader.start()
        self._writer = threading.Thread(target=self._write, name="beam-search-frames", daemon=True)
        self._writer.start()

    # -- the parent's side --

    @property
    def alive(self) -> bool:
        return self._alive and self._proc.is_alive()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _send(self, message: tuple) -> None:
        """Queue a message for the writer thread: the caller (the server's model worker) never waits for
        the pipe, which fills whenever the child is busy."""
        if not self._alive:
            raise SearchUnavailable("the beam search process has stopped")
        with self._send_lock:
            while self._abandoned:
                self._outbox.append((time.monotonic(), ("close", self._abandoned.popleft())))
            self._outbox.append((time.monotonic(), message))
            self._send_lock.notify()

    def _write(self) -> None:
        while True:
            with self._send_lock:
                while not self._outbox and self._alive:
                    self._send_lock.wait()
                if not self._alive:
                    return
                queued_at, message = self._outbox[0]
                self._sending_since = queued_at
            try:
                self._conn.send(message)
            except (OSError, EOFError, ValueError) as exc:
                self._dead(f"sending failed: {exc}")
                return
            with self._send_lock:
                self._outbox.popleft()
                self._sending_since = None
            if message[0] == "stop":
                return

    def open(self, hotwords: Sequence[str] | None = None) -> int:
        """Start a search (hot words as `BeamSearchDecoder.stream` takes them); its id."""
        sid = next(self._ids)
        self._send(("open", sid, tuple(hotwords) if hotwords is not None else None))
        return sid

    def feed(self, items: Sequence[tuple[int, np.ndarray]]) -> None:
        """New (t, V) log posteriors of open searches, in order per search: one message, the frames of
        all of them in one array (a server tick sends a few frames of each of tens of streams)."""
        items = [(sid, x) for sid, x in items if len(x)]
        if items:
            frames = np.concatenate([x for _, x in items]).astype(np.float32, copy=False)  # (sum t, V)
            self._send(("frames", [(sid, len(x)) for sid, x in items], frames))

    def finish(self, sid: int, timeout: float = 10.0) -> list[Hypothesis]:
        """The search's hypotheses once the child has read all its frames; the search is then closed."""
        future: Future = Future()
        with self._futures_lock:
            self._futures[sid] = future
        try:
            self._send(("finish", sid))
            return future.result(timeout)
        except FutureTimeout as exc:
            raise SearchUnavailable(f"the beam search process did not answer within {timeout:g} s") from exc
        finally:
            with self._futures_lock:
                self._futures.pop(sid, None)

    def close(self, sid: int) -> None:
        """Forget a search that will not be finished (an abandoned utterance). Safe from any thread and
        from a garbage-collection finalizer: the message goes out with the next one sent."""
        self._abandoned.append(sid)

    def utilization(self) -> float:
        """Busy fraction of the child over the last seconds (0 when it is gone)."""
        if not self.alive:
            return 0.0
        now = time.monotonic()
        return min(1.0, self._busy * math.exp(-(now - self._busy_at) / LOAD_SPAN) / LOAD_SPAN)

    def lag(self) -> float:
        """How long frames wait for the search: the oldest message not yet through the pipe, or the
        oldest unread frames at the child's last report (which decays once it is idle)."""
        now = time.monotonic()
        waiting = self._sending_since
        return max(now - waiting if waiting is not None else 0.0,
                   self._lag * math.exp(-(now - self._lag_at) / LOAD_SPAN))

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        if self._alive:
            try:
                self._send(("stop",))
            except SearchUnavailable:
                pass
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout)
        self._dead("stopped")

    def _dead(self, why: str) -> None:
        if self._alive:
            self._alive = False
            with self._send_lock:  # wake the writer, which then finds nothing it can send
                self._send_lock.notify()
            if not self._stopping:
                log.error("beam search process: %s; streams now search in the server's process", why)
        with self._futures_lock:
            futures, self._futures = list(self._futures.values()), {}
        for future in futures:
            if not future.done():
                future.set_exception(SearchUnavailable(f"the beam search process has stopped ({why})"))

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (OSError, EOFError) as exc:
                self._dead(f"it exited ({type(exc).__name__})")
                return
            kind = message[0]
            if kind == "final":
                _, sid, payload, ok = message
                with self._futures_lock:
                    future = self._futures.get(sid)
                if future is not None and not future.done():
                    if ok:
                        future.set_result(payload)
                    else:
                        future.set_exception(SearchUnavailable(f"the search failed in the child: {payload}"))
            elif kind == "load":
                _, busy, lag = message
                now = time.monotonic()
                self._busy = self._busy * math.exp(-(now - self._busy_at) / LOAD_SPAN) + busy
                self._busy_at = now
                self._lag, self._lag_at = lag, now


# -- the child's side --

def _serve(conn, decoder: BeamSearchDecoder) -> None:
    """The child's loop: read everything that arrived, answer finishes, then search the oldest frames."""
    # Ctrl-C or a service manager's SIGTERM reaches the whole process group: the parent decides when the
    # search stops ("stop", or the pipe closing when the parent is gone).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    streams: dict[int, object] = {}
    queued: dict[int, deque] = {}  # sid -> deque of (arrival time, (t, V) frames)
    finishing: deque[int] = deque()
    busy, reported = 0.0, time.monotonic()
    conn.send(("ready",))

    def report(force: bool = False) -> None:
        nonlocal busy, reported
        now = time.monotonic()
        if force or now - reported >= REPORT_SECONDS:
            oldest = min((q[0][0] for q in queued.values() if q), default=now)
            conn.send(("load", busy, now - oldest))
            busy, reported = 0.0, now

    def search(sid: int) -> None:
        q, stream = queued[sid], streams.get(sid)
        if stream is None or isinstance(stream, Exception):
            q.clear()  # its finish answers with the failure
        while q:
            stream.advance(q.popleft()[1])

    while True:
        work = bool(finishing) or any(queued.values())
        if not work:
            report(force=True)
        if conn.poll(0 if work else None):
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            kind = message[0]
            if kind == "frames":
                now, start = time.monotonic(), 0
                _, counts, frames = message
                for sid, rows in counts:
                    if sid in streams:
                        queued[sid].append((now, frames[start:start + rows]))
                    start += rows
            elif kind == "open":
                _, sid, hotwords = message
                try:
                    streams[sid] = decoder.stream(hotwords)
                except ValueError as exc:  # the parent checked them; answer the finish with the reason
                    streams[sid] = exc
                queued[sid] = deque()
            elif kind == "finish":
                finishing.append(message[1])
            elif kind == "close":
                streams.pop(message[1], None)
                queued.pop(message[1], None)
            elif kind == "stop":
                return
            continue  # read all that arrived before searching
        t0 = time.perf_counter()
        if finishing:
            sid = finishing.popleft()
            try:
                stream = streams.get(sid)
                if stream is None:
                    raise ValueError(f"no open search {sid}")
                if isinstance(stream, Exception):
                    raise stream
                search(sid)
                conn.send(("final", sid, stream.finalize(), True))
            except Exception as exc:  # one stream's failure is its own; the loop goes on
                conn.send(("final", sid, f"{type(exc).__name__}: {exc}", False))
            finally:
                streams.pop(sid, None)
                queued.pop(sid, None)
        else:
            sid = min((s for s, q in queued.items() if q), key=lambda s: queued[s][0][0])
            try:
                search(sid)
            except Exception as exc:
                streams[sid] = exc
                queued[sid].clear()
        busy += time.perf_counter() - t0
        report()
