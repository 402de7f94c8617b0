"""The synchronous core: sessions that turn audio and text into transcripts, replies and stored turns.

    assistant = Assistant.load(AssistantConfig())             # or Assistant(config, recognizer, responder, memory)
    session = assistant.open_session()                        # or open_session(conversation_id=...) to continue
    events = session.feed_audio(samples)                      # vad.*, transcript.partial, transcript.final events
    events = session.end_utterance()                          # the client ended the utterance: transcript.final
    reply = session.respond()                                 # reply to the last final transcript (or respond(text))
    for events in reply.steps(): ...                          # reply.started, reply.delta..., reply.done, metrics
    for piece in session.respond("hello"): ...                # or just the text pieces

Everything here returns protocol events (dicts built by `protocol.event`), so the websocket server
only forwards them. Many sessions' audio is recognised with one batched model step by
`Assistant.feed_many([(session, samples), ...])`.

Threading: an `Assistant` and its sessions are driven by one thread at a time (the server's model
worker). `Reply.cancel` may be called from another thread; the reply ends at its next step.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np

from .config import AssistantConfig, ENDPOINT_SENSITIVITIES, VAD_MODES, local_timezone
from .memory import AssistantTurn, Memory, UserTurn
from .protocol import SAMPLE_RATE, ProtocolError, event
from .skills import SkillContext, Skills
from dialogue.actions import ground_action, is_action, parse_action

if TYPE_CHECKING:  # the model packages are imported lazily: `assistant history` needs no torch
    from dialogue import Responder
    from speech import Recognizer

__all__ = ["Assistant", "Session", "Reply", "SessionSettings"]

log = logging.getLogger(__name__)

IDLE_KEEP_SECONDS = 10.0  # server VAD: audio kept while no speech is detected (recognised on audio.end)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 2)


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class SessionSettings:
    partials: bool = True  # send transcript.partial events
    hotwords: tuple[str, ...] = ()  # boosted words, from the next utterance on
    phrases: tuple[str, ...] = ()  # command mode when not empty: transcripts are one of these (or ""); hotwords unused
    vad_mode: str = "server"  # "server" | "client"; from the next utterance on
    silence_ms: int = 700  # server VAD: silence that ends an utterance
    sensitivity: str = "medium"  # server VAD preset
    decoding: dict[str, Any] = field(default_factory=dict)  # dialogue DecodingOptions overrides, next reply on

    def to_dict(self) -> dict[str, Any]:
        return {
            "asr": {"partials": self.partials, "hotwords": list(self.hotwords), "phrases": list(self.phrases)},
            "vad": {"mode": self.vad_mode, "silence_ms": self.silence_ms, "sensitivity": self.sensitivity},
            "reply": dict(self.decoding),
        }


@dataclass
class _Utterance:
    id: str
    stream: Any  # speech.RecognitionStream
    started_at: float  # perf_counter when recognition of it began
    start_ms: int  # session audio time of its first sample
    samples: int = 0
    compute: float = 0.0  # seconds of model work spent on it
    first_partial_at: float | None = None
    text: str = ""
    stable: int = 0
    endpoint_at: float | None = None  # perf_counter of the end-of-speech decision


@dataclass
class _Final:
    """A final transcript waiting for its reply."""
    utterance_id: str
    text: str
    confidence: float
    words: list[dict[str, Any]]
    audio_seconds: float
    compute: float
    first_partial_s: float | None
    endpoint_to_final_s: float | None
    final_at: float


class Assistant:
    """Models + memory + configuration; opens sessions."""

    def __init__(self, config: AssistantConfig, recognizer: "Recognizer", responder: "Responder", memory: Memory):
        self.config = config
        self.recognizer = recognizer
        self.responder = responder
        self.memory = memory
        self._check_decoding(config.decoding)
        self.skills = Skills(memory, timezone=config.timezone or local_timezone())
        # With greedy partials, the beam search of an utterance's new frames runs here after each
        # feed (None) or, when the server sets this, in its search thread or process: called once per
        # `feed_many` with the `speech.RecognitionStream`s that have frames waiting
        # (`stream.decode_pending()` does the work).
        self.search_later: Callable[[list[Any]], None] | None = None

    @classmethod
    def load(cls, config: AssistantConfig | None = None, *, recognizer=None, responder=None) -> "Assistant":
        """Load the configured models (or use the given ones) and open the configured database."""
        config = config or AssistantConfig()
        if recognizer is None:
            from speech import Recognizer

            recognizer = Recognizer.load(config.speech_model, quantize=config.speech_int8)
        if responder is None:
            from dialogue import Responder

            responder = Responder.load(config.dialogue_model)
        return cls(config, recognizer, responder, Memory(config.db_path))

    def close(self) -> None:
        self.memory.close()

    def info(self) -> dict[str, Any]:
        """What server.info says about the models."""
        rec_metrics = getattr(self.recognizer, "metrics", {}) or {}
        bot_metrics = getattr(self.responder, "metrics", {}) or {}
        return {
            "speech": {"name": str(self.config.speech_model), "language": rec_metrics.get("language", "en"),
                       "sample_rates": [SAMPLE_RATE]},
            "dialogue": {"name": str(self.config.dialogue_model), "language": bot_metrics.get("language", "en")},
        }

    # ---- sessions ----------------------------------------------------------------------------

    def open_session(self, conversation_id: str | None = None, *, asr: dict | None = None,
                     vad: dict | None = None, reply: dict | None = None) -> "Session":
        """A new session; with `conversation_id` it continues that stored conversation.

        `asr`, `vad` and `reply` are the protocol's settings objects (see `Session.update`).
        Raises `ProtocolError("unknown_conversation")` for an id that is not stored and
        `ProtocolError("bad_field")` for bad settings.
        """
        cfg = self.config
        settings = SessionSettings(partials=cfg.partials, hotwords=tuple(cfg.hotwords), vad_mode=cfg.vad_mode,
                                   silence_ms=cfg.silence_ms, sensitivity=cfg.endpoint_sensitivity,
                                   decoding=dict(cfg.decoding))
        settings = self._updated_settings(settings, asr=asr, vad=vad, reply=reply)
        if conversation_id is None:
            conversation_id = self.memory.create_conversation()
            resumed = False
        else:
            if not self.memory.has_conversation(conversation_id):
                raise ProtocolError("unknown_conversation", f"no stored conversation with id {conversation_id!r}")
            resumed = True
        history = self.memory.history(conversation_id, limit=cfg.history_turns)
        return Session(self, conversation_id, settings, history, resumed)

    # ---- timers --------------------------------------------------------------------------------

    def due_timer_events(self) -> list[tuple[str, dict[str, Any]]]:
        """Timers and alarms whose time has come, as (conversation_id, `timer.fired` event) pairs.

        Each is returned once; the caller delivers it to the sessions of its conversation and calls
        `delivered(event)`. One that finds no session stays undelivered until the conversation is resumed
        (`Session.late_timer_events`).
        """
        return [(fired.conversation_id, event(**self.skills.event(fired, late=False))) for fired in self.skills.due()]

    def delivered(self, timer_event: dict[str, Any]) -> None:
        """A `timer.fired` event reached a client."""
        self.skills.mark_delivered(timer_event["timer_id"])

    def _check_decoding(self, decoding: dict[str, Any]) -> None:
        from dialogue import DecodingOptions

        base = self.responder.options.to_dict() if hasattr(self.responder, "options") else {}
        DecodingOptions.from_dict({**base, **decoding})  # ValueError naming the bad key or value

    def _updated_settings(self, settings: SessionSettings, asr: dict | None = None, vad: dict | None = None,
                          reply: dict | None = None) -> SessionSettings:
        changes: dict[str, Any] = {}
        if asr:
            if asr.get("partials") is not None:
                changes["partials"] = bool(asr["partials"])
            if asr.get("hotwords") is not None:
                hotwords = tuple(asr["hotwords"])
                try:
                    self.recognizer.stream(hotwords=list(hotwords))  # validates (normalisable words)
                except ValueError as exc:
                    raise ProtocolError("bad_field", f"asr.hotwords: {exc}") from None
                changes["hotwords"] = hotwords
            if asr.get("phrases") is not None:
                phrases = tuple(asr["phrases"])
                if phrases:
                    try:
                        self.recognizer.stream(phrases=list(phrases))  # validates (normalisable, not too many)
                    except ValueError as exc:
                        raise ProtocolError("bad_field", f"asr.phrases: {exc}") from None
                changes["phrases"] = phrases
        if vad:
            if vad.get("mode") is not None:
                if vad["mode"] not in VAD_MODES:
                    raise ProtocolError("bad_field", f"vad.mode={vad['mode']!r}; valid choices: {', '.join(VAD_MODES)}")
                changes["vad_mode"] = vad["mode"]
            if vad.get("silence_ms") is not None:
                silence = vad["silence_ms"]
                if not isinstance(silence, int) or isinstance(silence, bool) or not 100 <= silence <= 10000:
                    raise ProtocolError("bad_field", f"vad.silence_ms={silence!r}; must be an integer 100..10000")
                changes["silence_ms"] = silence
            if vad.get("sensitivity") is not None:
                if vad["sensitivity"] not in ENDPOINT_SENSITIVITIES:
                    raise ProtocolError("bad_field", f"vad.sensitivity={vad['sensitivity']!r}; valid choices: "
                                                     f"{', '.join(ENDPOINT_SENSITIVITIES)}")
                changes["sensitivity"] = vad["sensitivity"]
        if reply is not None:
            if not isinstance(reply, dict):
                raise ProtocolError("bad_field", "reply must be an object of decoding options")
            decoding = {**settings.decoding, **reply}
            try:
                self._check_decoding(decoding)
            except ValueError as exc:
                raise ProtocolError("bad_field", f"reply: {exc}") from None
            changes["decoding"] = decoding
        return replace(settings, **changes)

    def _endpointer(self, settings: SessionSettings):
        from speech.endpoint import EndpointConfig, Endpointer

        frame_shift = getattr(self.recognizer, "frame_shift", 0.03)  # seconds per model output frame
        config = EndpointConfig.preset(settings.sensitivity, silence_ms=settings.silence_ms,
                                       max_speech_ms=self.config.max_utterance_seconds * 1000.0,
                                       blank_frame_ms=frame_shift * 1000.0)
        return Endpointer(config, sample_rate=SAMPLE_RATE)

    # ---- batched recognition -----------------------------------------------------------------

    def feed_many(self, work: Iterable[tuple]) -> list[list[dict[str, Any]]]:
        """Feed audio to many sessions with one batched recognition step; the events of each.

        `work` items are `(session, samples)` or `(session, samples, received_at)`, where
        `received_at` (perf_counter) is when the last of these samples arrived (default: now); an
        end of speech found in them is timed from there. Utterances whose end of speech is
        detected (or that reach the length limit) are finalised here, so the events can end with
        `transcript.final`.
        """
        now = time.perf_counter()
        # all audio is checked before any session changes: one bad item leaves every session as it was
        work = [(item[0], _as_samples(item[1]), item[2] if len(item) > 2 and item[2] is not None else now)
                for item in work]
        ids = [id(session) for session, _, _ in work]
        if len(set(ids)) != len(ids):
            raise ValueError("feed_many got the same session twice; concatenate its audio instead")
        results: list[list[dict[str, Any]]] = [[] for _ in work]
        batch: list[tuple[int, Session, np.ndarray]] = []
        for i, (session, samples, received_at) in enumerate(work):
            samples = _as_samples(samples)
            session._received_at = received_at
            events, audio = session._before_recognition(samples)
            results[i].extend(events)
            if audio is not None and audio.size:
                batch.append((i, session, audio))
        if batch:
            t0 = time.perf_counter()
            partials = self.recognizer.feed_many([(s._utterance.stream, audio) for _, s, audio in batch])
            share = (time.perf_counter() - t0) / len(batch)
            waiting = []
            for (i, session, audio), partial in zip(batch, partials):
                results[i].extend(session._after_recognition(partial, audio, share))
                stream = session._utterance.stream
                if stream.pending_frames:
                    waiting.append(stream)
            if waiting and self.search_later is not None:
                self.search_later(waiting)
            else:
                for stream in waiting:
                    stream.decode_pending()
        for i, (session, _, _) in enumerate(work):
            if session._utterance is not None and session._utterance.endpoint_at is not None:
                results[i].extend(session.end_utterance())
        return results


def _as_samples(samples: Any) -> np.ndarray:
    if isinstance(samples, (bytes, bytearray, memoryview)):
        data = bytes(samples)
        if len(data) % 2:
            raise ValueError(f"PCM16 audio needs an even number of bytes, got {len(data)}")
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    array = np.asarray(samples)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"samples must be a 1-D float array at 16 kHz (or PCM16 bytes), got "
                         f"{array.dtype} with shape {array.shape}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():  # refused, not repaired: NaN or inf means the caller's audio path is broken
        bad = int(np.size(array) - np.isfinite(array).sum())
        raise ValueError(f"samples contain {bad} NaN or infinite values; nothing of this audio was used")
    return array


class Session:
    """One conversation in progress: utterances in, replies out, exchanges stored."""

    def __init__(self, assistant: Assistant, conversation_id: str, settings: SessionSettings,
                 history: list[str], resumed: bool):
        self.assistant = assistant
        self.id = uuid.uuid4().hex
        self.conversation_id = conversation_id
        self.settings = settings
        self.history = list(history)
        self.resumed = resumed
        self.closed = False
        self.reply: Reply | None = None  # the reply being generated, if any
        self.pending = None  # dialogue.actions.Action the assistant asked a yes/no question about
        self.last_final: _Final | None = None  # the last final transcript not yet replied to
        self._utterance: _Utterance | None = None
        self._audio_samples = 0  # all audio fed to this session
        self._idle: deque[np.ndarray] = deque()  # server VAD: audio since the last utterance
        self._idle_samples = 0
        self._idle_start = 0  # session sample index of the first sample in _idle
        self._listener = None  # server VAD between utterances (speech.endpoint.Endpointer, energy only)
        self._listener_offset = 0  # session sample index where the listener started
        self._tracker = None  # server VAD during an utterance (energy + CTC blank evidence)
        self._received_at = 0.0  # perf_counter arrival of the audio being fed
        self._lock = threading.RLock()

    # ---- events ------------------------------------------------------------------------------

    def started_event(self) -> dict[str, Any]:
        return event("session.started", session_id=self.id, conversation_id=self.conversation_id,
                     resumed=self.resumed, settings=self.settings.to_dict())

    @property
    def lock(self) -> threading.RLock:
        """Held while the session or its reply changes; a caller that sends a step's events while holding
        it keeps them in order with what another thread does to the session (barge-in, cancel, close)."""
        return self._lock

    @property
    def speaking(self) -> bool:
        """An utterance is being recognised."""
        return self._utterance is not None

    @property
    def audio_ms(self) -> int:
        return int(self._audio_samples * 1000 // SAMPLE_RATE)

    def update(self, asr: dict | None = None, vad: dict | None = None, reply: dict | None = None) -> dict[str, Any]:
        """Change settings (protocol objects); `session.updated` event. Partials change at once,
        hot words and VAD from the next utterance, decoding from the next reply."""
        with self._lock:
            old = self.settings
            self.settings = self.assistant._updated_settings(old, asr=asr, vad=vad, reply=reply)
            if (old.silence_ms, old.sensitivity) != (self.settings.silence_ms, self.settings.sensitivity) \
                    and self._utterance is None:
                self._listener = None  # rebuilt with the new settings on the next audio
            return event("session.updated", settings=self.settings.to_dict())

    # ---- audio -------------------------------------------------------------------------------

    def feed_audio(self, samples: np.ndarray | bytes) -> list[dict[str, Any]]:
        """Add audio (float32 at 16 kHz or PCM16 bytes); vad.*, transcript.partial/final events."""
        return self.assistant.feed_many([(self, samples)])[0]

    def _start_utterance(self, start_sample: int) -> list[dict[str, Any]]:
        events = []
        if self.reply is not None and not self.reply.done:  # barge-in
            events.extend(self.reply._finish("interrupted"))
        self.last_final = None
        phrases = list(self.settings.phrases) or None
        hotwords = None if phrases else (list(self.settings.hotwords) or None)  # a phrase list leaves no room to boost
        self._utterance = _Utterance(
            id="utt_" + uuid.uuid4().hex[:12],
            stream=self.assistant.recognizer.stream(hotwords=hotwords, phrases=phrases,
                                                    defer_search=self.assistant.config.greedy_partials),
            started_at=time.perf_counter(),
            start_ms=int(start_sample * 1000 // SAMPLE_RATE),
        )
        return events

    def _before_recognition(self, samples: np.ndarray) -> tuple[list[dict[str, Any]], np.ndarray | None]:
        """VAD and bookkeeping for new audio: events, and the audio the recognizer should get now.

        Server VAD has two detectors: the listener (energy only) hears speech start between
        utterances; the tracker, made at the start of an utterance and fed the same audio as the
        recogniser together with its CTC blank probabilities, decides the end of speech.
        """
        if self.closed:
            raise RuntimeError("this session is closed")
        start = self._audio_samples
        self._audio_samples += samples.size
        if self._utterance is not None:
            return [], samples
        if self.settings.vad_mode == "client":
            return self._start_utterance(start), samples
        # server VAD, between utterances: keep the audio and listen for speech
        if not self._idle:
            self._idle_start = start
        self._idle.append(samples)
        self._idle_samples += samples.size
        keep = int(IDLE_KEEP_SECONDS * SAMPLE_RATE)
        while self._idle and self._idle_samples - self._idle[0].size >= keep:
            self._idle_samples -= self._idle[0].size
            self._idle_start += self._idle[0].size
            self._idle.popleft()
        if self._listener is None:
            self._listener = self.assistant._endpointer(self.settings)
            self._listener_offset = start
        events: list[dict[str, Any]] = []
        for found in self._listener.feed(samples):
            if found.kind != "speech_started":
                continue
            onset = self._listener_offset + int(found.audio_ms * SAMPLE_RATE // 1000)
            preroll = int(self.assistant.config.preroll_ms * SAMPLE_RATE // 1000)
            first = max(onset - preroll, self._idle_start)
            events.extend(self._start_utterance(first))
            events.append(event("vad.speech_started", utterance_id=self._utterance.id,
                                audio_ms=int(onset * 1000 // SAMPLE_RATE)))
            audio = np.concatenate(list(self._idle))[first - self._idle_start:]
            self._tracker = self.assistant._endpointer(self.settings)
            self._listener = None
            self._clear_idle()
            return events, audio
        return events, None

    def _after_recognition(self, partial: Any, audio: np.ndarray, compute: float) -> list[dict[str, Any]]:
        utt = self._utterance
        assert utt is not None
        utt.samples += audio.size
        utt.compute += compute
        events: list[dict[str, Any]] = []
        if partial.text != utt.text:
            utt.text, utt.stable = partial.text, min(int(partial.stable_chars), len(partial.text))
            if utt.text and utt.first_partial_at is None:
                utt.first_partial_at = time.perf_counter()
            if self.settings.partials:
                events.append(event("transcript.partial", utterance_id=utt.id, text=utt.text,
                                    stable_chars=utt.stable))
        if self._tracker is not None and utt.endpoint_at is None:
            blank = getattr(partial, "blank_probs", None)
            for found in self._tracker.feed(audio, blank if blank is not None else np.zeros(0)):
                if found.kind == "speech_stopped" and utt.endpoint_at is None:
                    utt.endpoint_at = self._received_at  # the audio that showed the end had arrived then
                    events.append(event("vad.speech_stopped", utterance_id=utt.id,
                                        audio_ms=utt.start_ms + int(found.audio_ms)))
        if utt.endpoint_at is None and utt.samples >= self.assistant.config.max_utterance_seconds * SAMPLE_RATE:
            utt.endpoint_at = self._received_at
            if self._tracker is not None:
                events.append(event("vad.speech_stopped", utterance_id=utt.id, audio_ms=self.audio_ms))
        return events

    def _clear_idle(self) -> None:
        self._idle.clear()
        self._idle_start = self._audio_samples
        self._idle_samples = 0

    def end_utterance(self, endpoint_at: float | None = None) -> list[dict[str, Any]]:
        """End the current utterance (client `audio.end`, or after end of speech); transcript.final event.

        `endpoint_at` is the perf_counter time the end was decided (when the audio.end frame
        arrived), for the endpoint-to-final latency. The final transcript waits in `last_final`
        for `respond()`; an empty transcript gets its `metrics` event here and no reply.
        """
        with self._lock:
            utt = self._utterance
            if utt is None:
                if self.settings.vad_mode != "server" or not self._idle_samples:
                    raise ProtocolError("no_audio", "audio.end without audio since the last utterance")
                # server VAD heard no speech, but the client says an utterance ended: recognise what came
                audio = np.concatenate(list(self._idle))
                events = self._start_utterance(self._idle_start)
                utt = self._utterance
                self._clear_idle()
                t0 = time.perf_counter()
                partial = utt.stream.feed(audio)
                self._after_recognition(partial, audio, time.perf_counter() - t0)
            else:
                events = []
            utt.endpoint_at = endpoint_at or utt.endpoint_at or time.perf_counter()
            t0 = time.perf_counter()
            transcript = utt.stream.finish()
            final_at = time.perf_counter()
            utt.compute += final_at - t0
            self._utterance = None
            self._tracker = None
            self._listener = None  # a fresh detector for the next utterance
            self._clear_idle()
            words = [{"word": w.word, "start": round(float(w.start), 3), "end": round(float(w.end), 3),
                      "confidence": round(float(w.confidence), 4)} for w in transcript.words]
            alternatives = [{"text": a.text, "confidence": round(float(a.confidence), 4)}
                            for a in transcript.alternatives]
            confidence = round(float(transcript.confidence), 4)
            events.append(event("transcript.final", utterance_id=utt.id, text=transcript.text,
                                confidence=confidence, words=words, alternatives=alternatives))
            final = _Final(
                utterance_id=utt.id, text=transcript.text, confidence=confidence, words=words,
                audio_seconds=round(utt.samples / SAMPLE_RATE, 3), compute=utt.compute,
                first_partial_s=None if utt.first_partial_at is None else utt.first_partial_at - utt.started_at,
                endpoint_to_final_s=final_at - utt.endpoint_at, final_at=final_at,
            )
            if transcript.text.strip():
                self.last_final = final
            else:
                self.last_final = None
                events.append(event("metrics", utterance_id=utt.id, reply_id=None,
                                    audio_seconds=final.audio_seconds, compute_seconds=round(final.compute, 4),
                                    first_partial_ms=_ms(final.first_partial_s),
                                    endpoint_to_final_ms=_ms(final.endpoint_to_final_s),
                                    final_to_first_token_ms=None))
            return events

    # ---- replies -----------------------------------------------------------------------------

    def respond(self, text: str | None = None, received_at: float | None = None) -> "Reply":
        """Start the reply to `text` (a typed turn) or, with no text, to the last final transcript.

        A reply still streaming is interrupted first (its events come first from the new reply).
        Nothing runs until the reply is stepped or iterated.
        """
        with self._lock:
            if self.closed:
                raise RuntimeError("this session is closed")
            pending: list[dict[str, Any]] = []
            if self.reply is not None and not self.reply.done:
                pending.extend(self.reply._finish("interrupted"))
            if text is None:
                if self.last_final is None:
                    raise ValueError("nothing to reply to: no final transcript waiting (give text)")
                final, self.last_final = self.last_final, None
                user = UserTurn(final.text, source="voice", utterance_id=final.utterance_id,
                                audio_seconds=final.audio_seconds, asr_confidence=final.confidence,
                                asr_words=final.words)
                self.reply = Reply(self, user, final.final_at, final, pending)
            else:
                if not isinstance(text, str) or not text.strip():
                    raise ValueError(f"text must be a non-empty string, got {text!r}")
                user = UserTurn(text, source="text")
                self.reply = Reply(self, user, received_at or time.perf_counter(), None, pending)
            return self.reply

    def cancel_reply(self, reply_id: str | None = None, reason: str = "cancelled") -> list[dict[str, Any]]:
        """End the streaming reply now; its reply.done (and metrics) events.
        `ProtocolError("unknown_reply")` when no such reply is streaming."""
        with self._lock:
            current = self.reply
            if current is None or current.done or (reply_id is not None and reply_id != current.id):
                raise ProtocolError("unknown_reply", f"no reply {reply_id or ''} is streaming".replace("  ", " "))
            return current._finish(reason)

    def close(self) -> list[dict[str, Any]]:
        """End the session: a streaming reply is cancelled (and stored), an unfinished utterance dropped."""
        with self._lock:
            events: list[dict[str, Any]] = []
            if self.reply is not None and not self.reply.done:
                events.extend(self.reply._finish("cancelled"))
            if self._utterance is not None:
                log.info("session %s closed during utterance %s; not transcribed", self.id, self._utterance.id)
                self._utterance = None
            self.closed = True
            return events

    def late_timer_events(self) -> list[dict[str, Any]]:
        """`timer.fired` events (marked late) of timers that fired while no session of this conversation
        was connected; each is marked delivered."""
        skills = self.assistant.skills
        events = []
        for fired in skills.undelivered(self.conversation_id):
            events.append(event(**skills.event(fired, late=True)))
            skills.mark_delivered(fired.id)
        return events

    def _remember(self, user_text: str, reply_text: str) -> None:
        self.history.extend([user_text, reply_text])
        del self.history[: max(0, len(self.history) - self.assistant.config.history_turns)]


class Reply:
    """One reply being generated. `step()` advances it by one text piece and returns the events;
    iterating yields the text pieces. The exchange is stored when it ends, with only the text
    that was delivered."""

    def __init__(self, session: Session, user: UserTurn, base_time: float, final: _Final | None,
                 pending: list[dict[str, Any]]):
        self.session = session
        self.id = "rep_" + uuid.uuid4().hex[:12]
        self.user = user
        self.utterance_id = final.utterance_id if final else None
        self.text = ""  # delivered so far
        self.finish_reason: str | None = None
        self.confidence: float | None = None
        self.done = False
        self._final = final
        self._base_time = base_time  # final transcript (voice) or text arrival (typed)
        self._pending = pending
        self._started = False
        self._stream = None
        self._compute = 0.0
        self._first_token_at: float | None = None
        self._cancel_reason: str | None = None
        self._raw = ""  # what the model wrote (markup for an action)
        self._acted = False  # the model wrote markup and it was handled
        self._action_text = ""  # the skill's reply text

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask the reply to end ("cancelled" or "interrupted"); thread-safe, takes effect at the next step."""
        if reason not in ("cancelled", "interrupted"):
            raise ValueError(f"reason={reason!r}; valid choices: cancelled, interrupted")
        self._cancel_reason = reason

    def _start_event(self) -> dict[str, Any]:
        fields = {"reply_id": self.id}
        if self.utterance_id is not None:
            fields["utterance_id"] = self.utterance_id
        return event("reply.started", **fields)

    def step(self) -> list[dict[str, Any]]:
        """Generate the next piece: reply.started (first), reply.delta, and at the end reply.done + metrics."""
        with self.session._lock:
            events, self._pending = self._pending, []
            if self.done:
                return events
            if not self._started:
                self._started = True
                events.append(self._start_event())
            if self._cancel_reason is not None:
                return events + self._finish(self._cancel_reason)
            t0 = time.perf_counter()
            session = self.session
            if self._stream is None:
                self._stream = session.assistant.responder.start(
                    list(session.history), self.user.text, dict(session.settings.decoding) or None)
            try:
                piece = next(self._stream)
            except StopIteration:
                self._compute += time.perf_counter() - t0
                if not self._acted:
                    session.pending = None  # a question is answered (or dropped) by the very next turn
                return events + self._finish(self._stream.finish_reason or "eos")
            self._raw += piece
            if not self._acted and is_action(self._raw):
                # The model asks for an action: read the whole markup, let the skill act, and say
                # the skill's words (the only facts in the reply) instead of the markup.
                for rest in self._stream:
                    self._raw += rest
                events.extend(self._act())
                piece = self._action_text
            now = time.perf_counter()
            self._compute += now - t0
            if self._first_token_at is None:
                self._first_token_at = now
            self.text += piece
            events.append(event("reply.delta", reply_id=self.id, text=piece))
            return events

    def _act(self) -> list[dict[str, Any]]:
        """Run the action in the model's markup; sets `_action_text`, returns reply.action."""
        session = self.session
        history = session.history
        ctx = SkillContext(conversation_id=session.conversation_id, owner=session.assistant.config.owner,
                           request=self.user.text, last_user=history[-2] if len(history) >= 2 else None,
                           last_reply=history[-1] if history else None, pending=session.pending)
        try:
            action = parse_action(self._raw)
            if action is not None:  # act on the words the user said, never on words the model made up
                action = ground_action(action, self.user.text)
        except ValueError:
            log.warning("reply %s: the model wrote markup that is not an action: %r", self.id, self._raw)
            action = None
        self._acted = True
        if action is None:
            self._action_text, session.pending = "Sorry, I didn't understand what to do.", None
            return []
        try:
            result = session.assistant.skills.run(action, ctx)
        except Exception:
            log.exception("reply %s: skill for %s failed", self.id, action)
            self._action_text, session.pending = "Sorry, something went wrong while doing that.", None
            return [event("error", code="internal", message=f"the {action.name} skill failed", fatal=False)]
        self._action_text, session.pending = result.text, result.pending
        return [event("reply.action", reply_id=self.id, action=action.name, args=dict(action.args))]

    def steps(self) -> Iterator[list[dict[str, Any]]]:
        """Step to the end: the events of each step."""
        while not self.done:
            yield self.step()

    def events(self) -> Iterator[dict[str, Any]]:
        for batch in self.steps():
            yield from batch

    def __iter__(self) -> Iterator[str]:
        """The text pieces (the reply is stored when the iteration ends)."""
        for evt in self.events():
            if evt["type"] == "reply.delta":
                yield evt["text"]

    def _finish(self, reason: str) -> list[dict[str, Any]]:
        """End the reply, store the exchange, return reply.done + metrics (reply.started if never sent)."""
        with self.session._lock:
            if self.done:
                return []
            events: list[dict[str, Any]] = []
            if not self._started:
                self._started = True
                events.append(self._start_event())
            if self._stream is not None:
                if reason in ("cancelled", "interrupted"):
                    self._stream.close()
                self.confidence = _finite(getattr(self._stream, "confidence", None))
            self.done = True
            self.finish_reason = reason
            session = self.session
            final = self._final
            latencies = {
                "first_partial_ms": _ms(final.first_partial_s) if final else None,
                "endpoint_to_final_ms": _ms(final.endpoint_to_final_s) if final else None,
                "final_to_first_token_ms": _ms(self._first_token_at - self._base_time)
                if self._first_token_at is not None else None,
            }
            try:
                session.assistant.memory.add_exchange(
                    session.conversation_id, self.user,
                    AssistantTurn(self.text, reason, reply_id=self.id, confidence=self.confidence,
                                  latencies=latencies))
            except Exception:
                log.exception("could not store exchange of reply %s", self.id)
                events.append(event("error", code="storage_error", message="the exchange could not be stored "
                                    "(the server log says why); the session goes on", fatal=False))
            session._remember(self.user.text, self.text)
            events.append(event("reply.done", reply_id=self.id, text=self.text, finish_reason=reason,
                                confidence=None if self.confidence is None else round(self.confidence, 4)))
            compute = self._compute + (final.compute if final else 0.0)
            events.append(event("metrics", utterance_id=self.utterance_id, reply_id=self.id,
                                audio_seconds=final.audio_seconds if final else None,
                                compute_seconds=round(compute, 4), **latencies))
            return events
