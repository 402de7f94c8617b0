"""Replies generated in child processes: the dialogue model's work runs beside recognition, on another core.

    responder = RemoteResponder(Responder.load("en"), processes=1)   # a drop-in for Responder.start
    stream = responder.start(history, text, options)                  # pieces, finish_reason, confidence
    responder.close()

One reply of the shipped dialogue model is tens of milliseconds of small torch operations driven by
Python, nearly all of it holding the GIL; in the server's process it competes with recognition and
the event loop for that one lock. In a child process it does not. Each child loads the responder
from a checkpoint the parent writes (so a model built in code works too) and generates a whole
reply per request; the parent's `RemoteReplyStream` then hands the pieces out one by one. The
pieces, finish reason and text are those of the same responder in the parent; for the default beam
search (which yields nothing before it ends) the first piece comes no later either. A cancelled
reply stops being delivered; the child had already finished it.
"""
from __future__ import annotations

import logging
import multiprocessing
import queue
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Sequence

__all__ = ["RemoteResponder", "RemoteReplyStream"]

log = logging.getLogger(__name__)


def _child(conn, checkpoint: str, threads: int) -> None:
    import torch

    from dialogue import Responder

    torch.set_num_threads(threads)
    bot = Responder.load(checkpoint)
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        history, text, options = message
        try:
            stream = bot.start(history, text, options)
            pieces = list(stream)
            conn.send(("ok", pieces, stream.finish_reason, float(stream.confidence)))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it for that reply
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class RemoteResponder:
    """`Responder.start` run in `processes` child processes; every other attribute is the local responder's."""

    def __init__(self, responder: Any, processes: int = 1, threads: int = 1, start_timeout: float = 120.0):
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise ValueError(f"processes must be an int >= 1, got {processes!r}")
        self.local = responder
        self._dir = Path(tempfile.mkdtemp(prefix="replies-"))
        checkpoint = responder.save(self._dir / "responder.pt")
        context = multiprocessing.get_context("spawn")  # no fork of a process that runs threads and torch
        self._idle: queue.Queue = queue.Queue()
        self._children = []
        self._closed = False
        try:
            for _ in range(processes):
                parent, child = context.Pipe()
                proc = context.Process(target=_child, args=(child, str(checkpoint), threads), daemon=True,
                                       name="assistant-replies")
                proc.start()
                child.close()
                if not parent.poll(start_timeout):
                    raise RuntimeError(f"the reply process did not start in {start_timeout:g} s")
                parent.recv()  # ("ready",)
                self._children.append((proc, parent))
                self._idle.put(parent)
        except BaseException:
            self.close()
            raise

    def __getattr__(self, name: str) -> Any:  # options, metrics, tokenizer, ...: the local responder's
        return getattr(self.local, name)

    def start(self, history: Sequence[str], text: str, options=None) -> "RemoteReplyStream":
        self.local._options(options)  # a bad option is a ValueError here, as with the local responder
        return RemoteReplyStream(self, list(history), text, options)

    def _generate(self, history: list[str], text: str, options: Any) -> tuple[list[str], str, float]:
        if self._closed:
            raise RuntimeError("the reply processes are closed")
        conn = self._idle.get()
        try:
            conn.send((history, text, options))
            answer = conn.recv()  # waits without the GIL
        except (EOFError, OSError) as exc:
            raise RuntimeError(f"the reply process failed ({exc})") from exc
        finally:
            self._idle.put(conn)
        if answer[0] != "ok":
            raise RuntimeError(f"the reply process failed: {answer[1]}")
        return answer[1], answer[2], answer[3]

    def close(self) -> None:
        """Stop the child processes (a reply being generated is dropped)."""
        if self._closed:
            return
        self._closed = True
        for proc, conn in self._children:
            try:
                conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for proc, conn in self._children:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            conn.close()
        shutil.rmtree(self._dir, ignore_errors=True)


class RemoteReplyStream:
    """One reply from a child process: iterate for the pieces; then `finish_reason`, `confidence`, `text`."""

    def __init__(self, owner: RemoteResponder, history: list[str], text: str, options: Any):
        self._owner, self._request = owner, (history, text, options)
        self._pieces: list[str] | None = None
        self._lock = threading.Lock()
        self.text = ""
        self.finish_reason: str | None = None
        self.confidence = float("-inf")
        self.done = False

    def __iter__(self) -> "RemoteReplyStream":
        return self

    def __next__(self) -> str:
        with self._lock:
            if self._pieces is None and not self.done:
                pieces, reason, confidence = self._owner._generate(*self._request)
                self._pieces, self._reason, self.confidence = pieces, reason, confidence
            if self.done or not self._pieces:
                if not self.done:
                    self.done, self.finish_reason = True, self._reason
                raise StopIteration
            piece = self._pieces.pop(0)
            self.text += piece
            return piece

    def close(self) -> None:
        """Stop delivering; `text` keeps what was already handed out."""
        with self._lock:
            if not self.done:
                self.done, self.finish_reason, self._pieces = True, "cancelled", []
