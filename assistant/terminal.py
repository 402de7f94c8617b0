"""Terminal chat: `assistant chat`.

Two backends speak the same language, the protocol events of DESIGN.md section 5
(plain dicts with a `type`): `LocalBackend` runs the models in this process
through `assistant.pipeline.Assistant`; `RemoteBackend` is a websocket client of
a running server (`--url`, code in `assistant.ws_client`). One `Chat` loop reads
typed lines and commands, and one of two views shows the events: `RichView` for a
terminal (colours, the partial transcript redrawn in place) and `PlainView` for
pipes (one line per thing, for scripts and tests).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["main", "build_parser", "Chat", "LocalBackend", "RemoteBackend", "PlainView", "RichView"]

log = logging.getLogger(__name__)

PROG = "assistant chat"
FRAME_MS_RANGE = (20, 100)
HELP_TEXT = """\
commands:
  /new            start a new conversation
  /history        show the stored turns of this conversation
  /hotword WORD   boost WORD in speech recognition (/hotword alone lists them, /hotword clear removes all)
  /phrases A, B   command mode: speech is heard as one of these phrases or not at all (/phrases clear ends it)
  /audio FILE     send a recording as speech
  /help           this help
  /quit           leave (also Ctrl-D)
anything else is sent as a typed message"""


class ChatError(Exception):
    """A problem the user can fix; shown as one line."""


# ---------------------------------------------------------------------------- backends
class Backend:
    """What the chat needs from a place that answers: protocol events in, out."""

    conversation_id: str | None = None

    def describe(self) -> str:
        raise NotImplementedError

    def start(self, conversation_id: str | None = None) -> str:
        """Open a session (continuing `conversation_id` when given); returns the conversation id."""
        raise NotImplementedError

    def text(self, text: str) -> Iterator[dict[str, Any]]:
        """A typed turn: yields reply.started, reply.delta..., reply.done, metrics."""
        raise NotImplementedError

    def audio(self, samples, *, frame_ms: int, fast: bool) -> Iterator[dict[str, Any]]:
        """A spoken turn from float32 16 kHz samples: partials, final, then the reply events."""
        raise NotImplementedError

    def cancel(self) -> Iterator[dict[str, Any]]:
        """Stop the reply being generated (Ctrl-C during a reply): its remaining events."""
        return iter(())

    def set_asr(self, **changes: list[str]) -> None:
        """Change recognition settings (hotwords=[...], phrases=[...]) from the next utterance on."""
        raise NotImplementedError

    def history(self) -> list[dict[str, Any]]:
        """Stored turns of the current conversation, oldest first: dicts with role and text."""
        raise NotImplementedError

    def timer_events(self) -> list[dict[str, Any]]:
        """`timer.fired` events that arrived since the last call (never blocks; empty during a turn)."""
        return []

    def close(self) -> None:
        pass


def _frames(samples, frame_ms: int):
    """Split float samples into PCM16 frames of `frame_ms` milliseconds."""
    from speech.audio import SAMPLE_RATE, float_to_pcm16

    step = SAMPLE_RATE * frame_ms // 1000
    for start in range(0, len(samples), step):
        yield float_to_pcm16(samples[start : start + step])


class RemoteBackend(Backend):
    """A websocket client of `python -m server` (assistant serve)."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0):
        from .ws_client import RemoteSession

        self.url, self.token = url, token
        self.session = RemoteSession(url, token)
        self.timeout = timeout  # seconds without any event before a turn is given up
        self.hotwords: list[str] = []
        self.phrases: list[str] = []
        self.turns: list[dict[str, Any]] = []  # what this client saw, for /history
        self._reply_id: str | None = None  # the reply streaming now
        self._user_text: str | None = None  # what the streaming reply answers
        # A turn reads the socket's events; the timer watch reads them only between turns.
        self._turn = threading.RLock()
        self._held: list[dict[str, Any]] = []  # events read between turns that the next turn must see
        self._timers: list[dict[str, Any]] = []  # timer.fired events not yet shown
        self.info = self.session.connect()

    def describe(self) -> str:
        models = self.info.get("models") or {}
        names = ", ".join(f"{kind} {m.get('name', '?')}" for kind, m in models.items() if isinstance(m, dict))
        return f"server {self.session.url.split('?')[0]}" + (f" ({names})" if names else "")

    def start(self, conversation_id: str | None = None) -> str:
        if self.conversation_id is not None:  # a running session: end it first
            self.session.send({"type": "session.end"})
            self._until({"session.ended"})
        started = self.session.start(conversation_id=conversation_id, hotwords=self.hotwords, phrases=self.phrases)
        self.conversation_id = started.get("conversation_id")
        if conversation_id is None or conversation_id != self.conversation_id:
            self.turns = []
        return self.conversation_id

    def _until(self, types: set[str]) -> list[dict[str, Any]]:
        seen = []
        while True:
            event = self.session.next_event(timeout=self.timeout)
            seen.append(event)
            if event.get("type") in types:
                return seen

    def _events_until_reply_done(self, user_text: str | None) -> Iterator[dict[str, Any]]:
        """Yield events until the reply of this turn is done (and its metrics arrived, if they come)."""
        self._user_text = user_text
        done = False
        while True:
            try:
                event = self.session.next_event(timeout=0.3 if done else self.timeout)
            except TimeoutError:
                if done:
                    return
                raise ChatError(f"no answer from the server in {self.timeout:.0f} s") from None
            kind = event.get("type")
            yield event
            if kind == "transcript.final":
                self._user_text = event.get("text", "")
                if not self._user_text.strip():
                    done = True  # nothing was heard: no reply comes
            elif kind == "reply.started":
                self._reply_id = event.get("reply_id")
            elif kind == "reply.done":
                self.turns.append({"role": "user", "text": self._user_text or ""})
                self.turns.append({"role": "assistant", "text": event.get("text", "")})
                self._reply_id = None
                done = True
            elif kind == "metrics" and done:
                return
            elif kind == "error" and event.get("code") in ("no_audio", "bad_field", "too_large", "not_started"):
                return
            elif kind == "error" and event.get("fatal"):
                return

    def _fresh(self) -> None:
        """Before a turn: drop stale events, and when the server closed the connection meanwhile
        (idle timeout, restart) open a new one that continues the same conversation."""
        from .ws_client import ConnectionLost, RemoteSession

        try:
            held, self._held = self._held, []
            while held or (event := self.session.poll_event()) is not None:
                event = held.pop(0) if held else event
                if event.get("type") == "timer.fired":
                    self._timers.append(event)
                elif event.get("type") == "error" and event.get("fatal"):
                    raise ConnectionLost(f"{event.get('message')} ({event.get('code')})")
        except ConnectionLost as exc:
            log.info("reconnecting to continue conversation %s: %s", self.conversation_id, exc)
            self.session.close()
            self.session = RemoteSession(self.url, self.token)
            self.info = self.session.connect()
            self.session.start(conversation_id=self.conversation_id, hotwords=self.hotwords, phrases=self.phrases)

    def timer_events(self) -> list[dict[str, Any]]:
        from .ws_client import ConnectionLost

        if not self._turn.acquire(blocking=False):
            return []
        try:
            while (event := self.session.poll_event()) is not None:
                (self._timers if event.get("type") == "timer.fired" else self._held).append(event)
        except ConnectionLost:
            pass  # the next turn reconnects
        finally:
            self._turn.release()
        events, self._timers = self._timers, []
        return events

    def text(self, text: str) -> Iterator[dict[str, Any]]:
        with self._turn:
            self._fresh()
            self.session.send({"type": "text.input", "text": text})
            yield from self._events_until_reply_done(text)

    def audio(self, samples, *, frame_ms: int, fast: bool) -> Iterator[dict[str, Any]]:
        with self._turn:
            yield from self._audio(samples, frame_ms=frame_ms, fast=fast)

    def _audio(self, samples, *, frame_ms: int, fast: bool) -> Iterator[dict[str, Any]]:
        self._fresh()
        frame_seconds = frame_ms / 1000
        # --fast: the server refuses audio beyond its backlog limit (`overloaded`), so keep at most
        # half of it unprocessed. An empty session.update is a barrier: the server handles a
        # client's messages in order, so its session.updated says all audio before it was recognised.
        limits = self.info.get("limits") or {}
        window = max(0.5, float(limits.get("max_backlog_seconds") or 3.0) / 2)
        barriers: list[float] = []  # audio positions (s) of the barriers not yet answered
        acked = 0.0
        start = time.monotonic()
        for i, frame in enumerate(_frames(samples, frame_ms)):
            position = i * frame_seconds
            if not fast:  # a live microphone delivers one frame per frame_ms
                delay = start + position - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            while fast and position + frame_seconds - acked > window and barriers:
                event = self.session.next_event(timeout=self.timeout)
                if event.get("type") == "session.updated":
                    acked = barriers.pop(0)
                else:
                    yield event
            self.session.send_audio(frame)
            if fast and (not barriers or position + frame_seconds - barriers[-1] >= window / 2):
                self.session.send({"type": "session.update"})
                barriers.append(position + frame_seconds)
            while (event := self.session.poll_event()) is not None:
                if event.get("type") == "session.updated" and barriers:
                    acked = barriers.pop(0)
                else:
                    yield event
        self.session.send({"type": "audio.end"})
        yield from self._events_until_reply_done(None)

    def cancel(self) -> Iterator[dict[str, Any]]:
        if self._reply_id is None:
            return
        self.session.send({"type": "reply.cancel", "reply_id": self._reply_id})
        yield from self._events_until_reply_done(self._user_text)

    def set_asr(self, **changes: list[str]) -> None:
        if self.conversation_id is not None:
            self.session.send({"type": "session.update", "asr": {k: list(v) for k, v in changes.items()}})
            answer = self._until({"session.updated", "error"})[-1]
            if answer.get("type") == "error":
                raise ChatError(f"{answer.get('message')} ({answer.get('code')})")
        for name, value in changes.items():
            setattr(self, name, list(value))

    def history(self) -> list[dict[str, Any]]:
        """The stored conversation from the server (GET /v1/conversations/ID), else what this client saw."""
        import json
        import urllib.error
        import urllib.request
        from urllib.parse import quote, urlsplit

        parts = urlsplit(self.session.url)
        scheme = "https" if parts.scheme == "wss" else "http"
        request = urllib.request.Request(f"{scheme}://{parts.netloc}/v1/conversations/{quote(self.conversation_id)}")
        if self.session.token:
            request.add_header("Authorization", f"Bearer {self.session.token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # a local server: no proxy
        try:
            with opener.open(request, timeout=10) as response:
                return json.load(response)["turns"]
        except (OSError, ValueError, KeyError, urllib.error.URLError) as exc:
            log.info("no stored history from the server (%s); showing this session's turns", exc)
            return list(self.turns)

    def close(self) -> None:
        try:
            if self.conversation_id is not None:
                self.session.send({"type": "session.end"})
        except Exception:  # the server may already be gone
            pass
        self.session.close()


class LocalBackend(Backend):
    """The models in this process, through `assistant.pipeline.Assistant`."""

    def __init__(self, assistant, *, owns: bool = True):
        self.assistant = assistant
        self.owns = owns  # close the assistant (its database) with the backend
        self.session = None
        self.hotwords: list[str] = []
        self.phrases: list[str] = []
        self._turn = threading.RLock()  # the timer watch runs between turns only
        self._timers: list[dict[str, Any]] = []  # timer.fired events not yet shown

    @classmethod
    def load(cls, *, speech_model: str = "en", dialogue_model: str = "en", db: str | None = None,
             recognizer=None, responder=None, speech_int8: bool | None = None,
             timezone: str | None = None) -> "LocalBackend":
        """Load the models (or use the given ones) and open the conversation database."""
        from .config import AssistantConfig
        from .pipeline import Assistant

        config = AssistantConfig(speech_model=str(speech_model), speech_int8=speech_int8, dialogue_model=str(dialogue_model),
                                 timezone=timezone, **({"db_path": str(db)} if db else {}))
        return cls(Assistant.load(config, recognizer=recognizer, responder=responder))

    def describe(self) -> str:
        cfg = self.assistant.config
        return f"in-process (speech {cfg.speech_model}, dialogue {cfg.dialogue_model}, db {cfg.db_path})"

    def start(self, conversation_id: str | None = None) -> str:
        from .protocol import ProtocolError

        if self.session is not None:
            self.session.close()
        try:
            self.session = self.assistant.open_session(
                conversation_id, asr={"hotwords": self.hotwords, "phrases": self.phrases}, vad={"mode": "client"})
        except ProtocolError as exc:
            raise ChatError(exc.message) from None
        self.conversation_id = self.session.conversation_id
        self._timers = self.session.late_timer_events()  # fired while this conversation was closed
        return self.conversation_id

    def timer_events(self) -> list[dict[str, Any]]:
        if not self._turn.acquire(blocking=False):
            return []
        try:
            for conversation_id, timer_event in self.assistant.due_timer_events():
                # timers of other conversations stay undelivered until those are resumed
                if self.session is not None and conversation_id == self.session.conversation_id:
                    self._timers.append(timer_event)
                    self.assistant.delivered(timer_event)
        finally:
            self._turn.release()
        events, self._timers = self._timers, []
        return events

    def text(self, text: str) -> Iterator[dict[str, Any]]:
        with self._turn:
            yield from self.session.respond(text).events()

    def audio(self, samples, *, frame_ms: int, fast: bool) -> Iterator[dict[str, Any]]:
        frame_seconds = frame_ms / 1000
        start = time.monotonic()
        for i, frame in enumerate(_frames(samples, frame_ms)):
            if not fast:  # a live microphone delivers one frame per frame_ms
                delay = start + i * frame_seconds - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield from self.session.feed_audio(frame)
        yield from self.session.end_utterance()
        if self.session.last_final is not None:
            yield from self.session.respond().events()

    def cancel(self) -> Iterator[dict[str, Any]]:
        from .protocol import ProtocolError

        try:
            yield from self.session.cancel_reply()
        except ProtocolError:
            return

    def set_asr(self, **changes: list[str]) -> None:
        from .protocol import ProtocolError

        try:
            self.session.update(asr={k: list(v) for k, v in changes.items()})
        except ProtocolError as exc:
            raise ChatError(exc.message) from None
        for name, value in changes.items():
            setattr(self, name, list(value))

    def history(self) -> list[dict[str, Any]]:
        return self.assistant.memory.export_conversation(self.conversation_id)["turns"]

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        if self.owns:
            self.assistant.close()


# ------------------------------------------------------------------------------- views
class PlainView:
    """Line output for pipes: stable, greppable, no escape codes."""

    def __init__(self, out: TextIO):
        self.out = out
        self._streaming = False
        self._last_partial = None

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def info(self, text: str) -> None:
        self._line(f"* {text}")

    def error(self, text: str) -> None:
        self._end_stream()
        self._line(f"! {text}")

    def help(self, text: str) -> None:
        self._line(text)

    def user(self, text: str) -> None:
        self._line(f"you: {text}")

    def history(self, turns: list[dict[str, Any]]) -> None:
        if not turns:
            self.info("no turns stored in this conversation yet")
        for turn in turns:
            self._line(f"  {turn.get('role', '?')}: {turn.get('text', '')}")

    def _end_stream(self) -> None:
        if self._streaming:
            self.out.write("\n")
            self.out.flush()
            self._streaming = False

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "transcript.partial":
            text = event.get("text", "")
            if text != self._last_partial:
                self._last_partial = text
                stable = int(event.get("stable_chars") or 0)
                self._line(f"... {text[:stable]}|{text[stable:]}")
        elif kind == "transcript.final":
            self._last_partial = None
            conf = event.get("confidence")
            suffix = f"  ({conf:.2f})" if isinstance(conf, (int, float)) else ""
            self._line(f"you (voice): {event.get('text', '')}{suffix}")
        elif kind == "reply.started":
            self.out.write("assistant: ")
            self.out.flush()
            self._streaming = True
        elif kind == "reply.delta":
            self.out.write(event.get("text", ""))
            self.out.flush()
        elif kind == "reply.done":
            self._end_stream()
            reason = event.get("finish_reason")
            if reason and reason != "eos":
                self.info(f"reply ended: {reason}")
        elif kind == "metrics":
            text = _metrics_text(event)
            if text:
                self.info(text)
        elif kind == "timer.fired":
            self._end_stream()
            self._line(f"assistant: ⏰ {_timer_text(event)}")
        elif kind == "error":
            self.error(f"server error {event.get('code')}: {event.get('message')}")

    def close(self) -> None:
        self._end_stream()


class RichView:
    """A terminal: colours, the reply streaming in, the partial transcript redrawn in place."""

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console(highlight=False)
        self._live = None
        self._streaming = False

    def info(self, text: str) -> None:
        self.console.print(f"[dim]{_escape(text)}[/dim]")

    def error(self, text: str) -> None:
        self._stop_live()
        self._end_stream()
        self.console.print(f"[bold red]✗[/bold red] {_escape(text)}")

    def help(self, text: str) -> None:
        self.console.print(f"[cyan]{_escape(text)}[/cyan]")

    def user(self, text: str) -> None:
        pass  # the person just typed it; the prompt shows it already

    def history(self, turns: list[dict[str, Any]]) -> None:
        if not turns:
            self.info("no turns stored in this conversation yet")
        for turn in turns:
            who = "[bold green]you[/]" if turn.get("role") == "user" else "[bold magenta]assistant[/]"
            self.console.print(f"  {who} {_escape(turn.get('text', ''))}")

    def prompt(self) -> str:
        return self.console.input("[bold green]you ›[/] ")

    def _partial_text(self, text: str, stable: int):
        from rich.text import Text

        line = Text()
        line.append("hearing › ", style="bold yellow")
        line.append(text[:stable], style="bold")
        line.append(text[stable:], style="italic dim")
        return line

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _end_stream(self) -> None:
        if self._streaming:
            self.console.print()
            self._streaming = False

    def event(self, event: dict[str, Any]) -> None:
        from rich.live import Live

        kind = event.get("type")
        if kind == "transcript.partial":
            renderable = self._partial_text(event.get("text", ""), int(event.get("stable_chars") or 0))
            if self._live is None:
                self._live = Live(renderable, console=self.console, transient=True, auto_refresh=False)
                self._live.start()
            self._live.update(renderable, refresh=True)
        elif kind == "transcript.final":
            self._stop_live()
            conf = event.get("confidence")
            suffix = f" [dim]({conf:.2f})[/dim]" if isinstance(conf, (int, float)) else ""
            self.console.print(f"[bold green]you[/] [dim]🎤[/dim] {_escape(event.get('text', ''))}{suffix}")
        elif kind == "reply.started":
            self._stop_live()
            self.console.print("[bold magenta]assistant ›[/] ", end="")
            self._streaming = True
        elif kind == "reply.delta":
            self.console.print(_escape(event.get("text", "")), end="", soft_wrap=True)
        elif kind == "reply.done":
            self._end_stream()
            reason = event.get("finish_reason")
            if reason and reason != "eos":
                self.console.print(f"[yellow]  (reply {reason})[/yellow]")
        elif kind == "metrics":
            text = _metrics_text(event)
            if text:
                self.console.print(f"[dim]  {text}[/dim]")
        elif kind == "timer.fired":
            self._stop_live()
            self._end_stream()
            self.console.print(f"[bold magenta]assistant ›[/] [bold yellow]⏰ {_escape(_timer_text(event))}[/]")
        elif kind == "error":
            self.error(f"server error {event.get('code')}: {event.get('message')}")

    def close(self) -> None:
        self._stop_live()
        self._end_stream()


def _timer_text(event: dict[str, Any]) -> str:
    # the event's text already says when a late one went off; "late:" marks it without repeating that
    text = event.get("text") or ("Your alarm is ringing." if event.get("kind") == "alarm" else "Your timer is done.")
    return ("late: " if event.get("late") else "") + text


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _metrics_text(event: dict[str, Any]) -> str:
    parts = []
    for key, label in (
        ("first_partial_ms", "first partial"),
        ("endpoint_to_final_ms", "end→final"),
        ("final_to_first_token_ms", "first token"),
    ):
        value = event.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {value:.0f} ms")
    audio, compute = event.get("audio_seconds"), event.get("compute_seconds")
    if isinstance(audio, (int, float)) and isinstance(compute, (int, float)) and audio > 0:
        parts.append(f"RTF {compute / audio:.2f}")
    return "latency: " + ", ".join(parts) if parts else ""


# -------------------------------------------------------------------------------- chat
class Chat:
    """The read-eval-print loop over a backend and a view."""

    def __init__(self, backend: Backend, view, *, frame_ms: int = 40, fast: bool = False):
        self.backend = backend
        self.view = view
        self.frame_ms = frame_ms
        self.fast = fast
        self.hotwords: list[str] = []
        self._view_lock = threading.RLock()  # the timer watch prints between turns only

    def poll_timers(self) -> None:
        """Show the timers and alarms that came due."""
        with self._view_lock:
            for event in self.backend.timer_events():
                self.view.event(event)

    def watch_timers(self, interval: float = 0.5) -> threading.Event:
        """Show due timers from a background thread while the chat waits for input; set the
        returned event to stop it."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.poll_timers()
                except Exception:  # a watch must never kill the chat
                    log.exception("timer watch failed")

        threading.Thread(target=loop, name="timer-watch", daemon=True).start()
        return stop

    def show(self, events) -> None:
        try:
            for event in events:
                self.view.event(event)
        except KeyboardInterrupt:  # Ctrl-C during a reply stops the reply, not the chat
            for event in self.backend.cancel():
                self.view.event(event)

    def say_text(self, text: str) -> None:
        self.view.user(text)
        self.show(self.backend.text(text))

    def say_audio(self, path: str) -> None:
        from speech.audio import load_audio

        try:
            samples = load_audio(path)
        except FileNotFoundError:
            raise ChatError(f"no such audio file: {path}") from None
        except (ValueError, RuntimeError) as exc:
            raise ChatError(f"bad audio file: {exc}") from None
        if len(samples) == 0:
            raise ChatError(f"audio file {path} is empty")
        self.view.info(f"sending {path} ({len(samples) / 16000:.1f} s{', fast' if self.fast else ''})")
        self.show(self.backend.audio(samples, frame_ms=self.frame_ms, fast=self.fast))

    def command(self, line: str) -> bool:
        """Run a /command; False means quit."""
        name, _, arg = line[1:].partition(" ")
        name, arg = name.lower(), arg.strip()
        if name in ("quit", "exit", "q"):
            return False
        if name in ("help", "?"):
            self.view.help(HELP_TEXT)
        elif name == "new":
            conversation = self.backend.start(None)
            self.view.info(f"new conversation {conversation}")
        elif name == "history":
            self.view.history(self.backend.history())
        elif name == "hotword":
            if arg == "clear":
                self.hotwords = []
            elif arg:
                if arg not in self.hotwords:
                    self.hotwords.append(arg)
            if arg:
                self.backend.set_asr(hotwords=self.hotwords)
            self.view.info("hot words: " + (", ".join(self.hotwords) if self.hotwords else "none"))
        elif name == "phrases":
            if arg:
                phrases = [] if arg == "clear" else [p.strip() for p in arg.split(",") if p.strip()]
                self.backend.set_asr(phrases=phrases)
            phrases = self.backend.phrases
            self.view.info("command mode: " + ", ".join(phrases) if phrases else "command mode off (open vocabulary)")
        elif name == "audio":
            if not arg:
                raise ChatError("usage: /audio FILE")
            self.say_audio(arg)
        else:
            raise ChatError(f"unknown command /{name}; type /help for the list")
        return True

    def run(self, lines, *, audio: str | None = None) -> int:
        """Process an optional recording, then `lines` (an iterator of typed lines) until /quit or EOF."""
        if audio:
            try:
                self.say_audio(audio)
            except ChatError as exc:
                self.view.error(str(exc))
                return 2
        self.poll_timers()
        for line in lines:
            line = line.strip()
            self.poll_timers()
            if not line:
                continue
            try:
                if line.startswith("/"):
                    if not self.command(line):
                        break
                else:
                    self.say_text(line)
            except ChatError as exc:
                self.view.error(str(exc))
        return 0


# --------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Chat with the assistant in the terminal: typed messages, or a recording as speech.",
        epilog=HELP_TEXT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_argument_group("where the assistant runs")
    where.add_argument("--url", help="websocket URL of a running server, e.g. ws://127.0.0.1:8765/v1/ws "
                                     "(default: run the models in this process)")
    where.add_argument("--token", default=os.environ.get("ASSISTANT_TOKEN") or None,
                       help="access token of the server, --url mode (default: $ASSISTANT_TOKEN)")
    where.add_argument("--speech-model", default="en", metavar="NAME_OR_PATH",
                       help="speech model name or checkpoint path (default: en)")
    where.add_argument("--speech-int8", action=argparse.BooleanOptionalAction, default=None,
                       help="int8 weights for the speech model: about 3x less CPU at the same beam+LM WER "
                            "(default: the model's choice; the shipped model runs int8)")
    where.add_argument("--dialogue-model", default="en", metavar="NAME_OR_PATH",
                       help="dialogue model name or checkpoint path (default: en)")
    where.add_argument("--db", default=None, metavar="PATH",
                       help="conversation database, in-process mode (default: data/assistant.db)")
    where.add_argument("--timezone", default=None, metavar="ZONE",
                       help="IANA time zone for the clock, timers and alarms, in-process mode (default: this machine's)")
    parser.add_argument("--conversation", metavar="ID", help="continue a stored conversation")
    parser.add_argument("--hotword", action="append", default=[], metavar="WORD", help="boost a word (repeatable)")
    parser.add_argument("--phrase", action="append", default=[], metavar="TEXT",
                        help="command mode: speech is heard as one of these phrases or not at all (repeatable)")
    speech = parser.add_argument_group("speech from a file")
    speech.add_argument("--audio", metavar="FILE", help="send a recording (wav, flac, ogg, mp3) as speech first")
    speech.add_argument("--fast", action="store_true", help="send the recording as fast as possible, not in real time")
    speech.add_argument("--frame-ms", type=int, default=40, metavar="MS", help="audio frame length in ms, 20-100 (default: 40)")
    out = parser.add_argument_group("output")
    out.add_argument("--plain", action="store_true", help="plain line output even in a terminal")
    return parser


def _open_backend(args, recognizer=None, responder=None) -> Backend:
    if args.url:
        return RemoteBackend(args.url, args.token)
    return LocalBackend.load(speech_model=args.speech_model, dialogue_model=args.dialogue_model, db=args.db,
                             recognizer=recognizer, responder=responder, speech_int8=args.speech_int8,
                             timezone=args.timezone)


def main(argv: list[str] | None = None, *, stdin: TextIO | None = None, stdout: TextIO | None = None,
         recognizer=None, responder=None) -> int:
    """`assistant chat ARGS`; returns the exit status. Models may be passed in (tests)."""
    from .ws_client import ClientError

    parser = build_parser()
    args = parser.parse_args(argv)
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if not FRAME_MS_RANGE[0] <= args.frame_ms <= FRAME_MS_RANGE[1]:
        parser.error(f"--frame-ms {args.frame_ms}: must be between {FRAME_MS_RANGE[0]} and {FRAME_MS_RANGE[1]}")
    interactive = not args.plain and stdin.isatty() and stdout.isatty()
    view = RichView() if interactive else PlainView(stdout)

    def fail(message: str) -> int:
        view.error(message) if interactive else print(f"{PROG}: {message}", file=sys.stderr)
        return 2

    try:
        if interactive:
            what = f"connecting to {args.url}" if args.url else "loading the models"
            with view.console.status(f"[dim]{_escape(what)}…[/dim]"):
                backend = _open_backend(args, recognizer, responder)
        else:
            backend = _open_backend(args, recognizer, responder)
    except (ClientError, ChatError, FileNotFoundError, ValueError) as exc:
        return fail(str(exc))
    try:
        try:
            if args.hotword:
                backend.hotwords = list(args.hotword)
            if args.phrase:
                backend.phrases = list(args.phrase)
            conversation = backend.start(args.conversation)
        except (ClientError, ChatError, ValueError, LookupError) as exc:
            return fail(str(exc).strip("'\""))
        chat = Chat(backend, view, frame_ms=args.frame_ms, fast=args.fast)
        chat.hotwords = list(args.hotword)
        view.info(backend.describe())
        view.info(f"conversation {conversation}" + (" (resumed)" if args.conversation else ""))
        if interactive:
            view.info("type a message, or /help for commands")
        lines = _prompt_lines(view) if interactive else stdin
        watch = chat.watch_timers() if interactive else None
        try:
            return chat.run(lines, audio=args.audio)
        except ClientError as exc:
            return fail(str(exc))
        except KeyboardInterrupt:
            return 130
        finally:
            if watch is not None:
                watch.set()
    finally:
        view.close()
        backend.close()


def _prompt_lines(view: "RichView") -> Iterator[str]:
    while True:
        try:
            yield view.prompt()
        except EOFError:
            view.console.print()
            return


if __name__ == "__main__":
    sys.exit(main())
