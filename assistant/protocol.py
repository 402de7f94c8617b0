"""The websocket wire protocol (version 1) as data.

Every message type is a `MessageSpec` listing its fields. `parse(frame)` turns one incoming frame
into a `ClientMessage` (JSON) or `AudioFrame` (binary), or raises `ProtocolError(code, message)`
with a stable code. `event(type, **fields)` builds a server event and `dump(event, seq)` encodes it.
`markdown_tables()` renders the tables that docs/protocol.md and the README carry (a test keeps
them equal to the specs here).

This module is pure data and validation: no sockets, no models.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PROTOCOL_VERSION", "SAMPLE_RATE", "ENCODING", "Field", "MessageSpec", "CLIENT_MESSAGES", "SERVER_EVENTS",
    "ERROR_CODES", "FINISH_REASONS", "ProtocolError", "ClientMessage", "AudioFrame", "parse", "event", "dump",
    "Sequencer", "error_event", "markdown_tables",
]

PROTOCOL_VERSION = 1
SAMPLE_RATE = 16000  # binary frames: PCM signed 16-bit little-endian, mono, 16 kHz
ENCODING = "pcm16"
FINISH_REASONS = ("eos", "length", "cancelled", "interrupted")
VAD_MODES = ("server", "client")
SENSITIVITIES = ("low", "medium", "high")

# Default limits; the server passes its configured ones to `parse`.
MAX_AUDIO_BYTES = 32000  # 1 s of audio
MAX_MESSAGE_BYTES = 65536
MAX_TEXT_CHARS = 2000
MAX_LIST_ITEMS = 100  # items of a list-of-strings field (asr.hotwords, asr.phrases)
MAX_LIST_ITEM_CHARS = 100

# Stable error codes -> when they are sent. Clients switch on these strings; never rename one.
ERROR_CODES: dict[str, str] = {
    "bad_json": "a text frame is not valid UTF-8 JSON",
    "bad_message": "a JSON frame is not an object with a string `type`",
    "unknown_type": "the `type` is not a client message type",
    "bad_field": "a field has the wrong type or an invalid value (the message names it)",
    "too_large": "a frame, text or list is over its limit (see server.info limits)",
    "bad_audio": "a binary frame is not PCM16 (odd or zero byte count)",
    "unsupported_audio": "session.start asks for an audio format other than 16 kHz pcm16",
    "unsupported_protocol": "session.start asks for a protocol version this server does not speak",
    "not_started": "audio, text or a setting arrives before session.start",
    "already_started": "session.start arrives while a session is running",
    "unknown_conversation": "session.start names a conversation_id that is not stored",
    "unknown_reply": "reply.cancel names a reply that is not streaming",
    "no_audio": "audio.end arrives with no audio since the last utterance",
    "overloaded": "the server cannot keep up: the audio frame was not accepted (nothing is dropped silently)",
    "rate_limited": "the connection sends more frames a second than server.info limits allow; frames over it are "
                    "dropped (one error a second, with the count)",
    "busy": "the server has its maximum number of sessions; try again later (fatal)",
    "too_slow": "the client does not read its events fast enough (fatal)",
    "idle_timeout": "nothing received for the idle timeout (fatal)",
    "session_timeout": "the session reached its maximum length (fatal)",
    "shutting_down": "the server is stopping (fatal)",
    "unauthorized": "missing or wrong token: HTTP 401 before the websocket opens",
    "forbidden_origin": "the Origin is not allowed: HTTP 403 before the websocket opens",
    "storage_error": "the conversation store could not be written (read-only file, full disk): what the message "
                     "names was not stored; the session goes on",
    "internal": "an unexpected server error; the session goes on",
}


class ProtocolError(Exception):
    """A client mistake with a stable `code` (a key of ERROR_CODES)."""

    def __init__(self, code: str, message: str, fatal: bool = False):
        assert code in ERROR_CODES, code
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fatal = fatal


# ---- specs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "string" | "integer" | "number" | "boolean" | "object" | "strings" (list of str) | "list" | "any"
    required: bool = False  # a client message without it is a bad_field error; a server event always has it
    doc: str = ""  # shown in parentheses in the tables
    fields: tuple["Field", ...] = ()  # sub-fields of an object (checked when given; others are ignored)
    choices: tuple[Any, ...] = ()  # allowed values, when limited


@dataclass(frozen=True)
class MessageSpec:
    type: str  # the `type` string ("binary" for audio frames)
    fields: tuple[Field, ...] = ()
    meaning: str = ""  # client messages: what it does
    row: str = ""  # messages documented on one table row share a row key (the first type of the row)

    def field(self, name: str) -> Field:
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)


_ASR = Field("asr", "object", fields=(
    Field("partials", "boolean"),
    Field("hotwords", "strings"),
    Field("phrases", "strings", doc="command mode: each transcript is one of these, or empty; [] ends it"),
))
_VAD = Field("vad", "object", fields=(
    Field("mode", "string", choices=VAD_MODES),
    Field("silence_ms", "integer"),
    Field("sensitivity", "string", choices=SENSITIVITIES),
))
_REPLY = Field("reply", "object", doc="decoding options")

CLIENT_MESSAGES: dict[str, MessageSpec] = {m.type: m for m in [
    MessageSpec("session.start", (
        Field("protocol", "integer"),
        Field("conversation_id", "string", doc="continue a stored conversation"),
        Field("language", "string"),
        Field("audio", "object", fields=(Field("sample_rate", "integer"), Field("encoding", "string"))),
        _ASR, _VAD, _REPLY,
    ), "begins a session"),
    MessageSpec("binary", (), "audio of the current utterance"),
    MessageSpec("audio.end", (), "the client ends the utterance (push-to-talk, client VAD)"),
    MessageSpec("text.input", (Field("text", "string", required=True),), "a typed turn, same dialogue path"),
    MessageSpec("reply.cancel", (Field("reply_id", "string", doc="the streaming reply when absent"),),
                "stop the reply being generated"),
    MessageSpec("session.update", (_ASR, _REPLY, _VAD), "change settings mid-session"),
    MessageSpec("session.end", (), "ends the session (the connection stays open)"),
    MessageSpec("ping", (), "the server answers `pong`"),
]}

_WORDS = Field("words", "list", fields=(Field("word", "string"), Field("start", "number"), Field("end", "number"),
                                         Field("confidence", "number")))
_ALTERNATIVES = Field("alternatives", "list", fields=(Field("text", "string"), Field("confidence", "number")))
_VAD_FIELDS = (Field("utterance_id", "string"), Field("audio_ms", "integer", doc="from the session's first audio"))

SERVER_EVENTS: dict[str, MessageSpec] = {m.type: m for m in [
    MessageSpec("server.info", (
        Field("protocol", "integer"),
        Field("server", "string"),
        Field("models", "object", fields=(Field("speech", "object"), Field("dialogue", "object")),
              doc="name, language, sample rates"),
        Field("audio", "object", fields=(Field("sample_rate", "integer"), Field("encoding", "string"))),
        Field("limits", "object"),
    ), "sent on connect"),
    MessageSpec("session.started", (
        Field("session_id", "string"), Field("conversation_id", "string"),
        Field("resumed", "boolean"), Field("settings", "object"),
    )),
    MessageSpec("session.updated", (Field("settings", "object"),)),
    MessageSpec("vad.speech_started", _VAD_FIELDS, row="vad.speech_started"),
    MessageSpec("vad.speech_stopped", _VAD_FIELDS, row="vad.speech_started"),
    MessageSpec("transcript.partial", (
        Field("utterance_id", "string"), Field("text", "string"), Field("stable_chars", "integer"),
    )),
    MessageSpec("transcript.final", (
        Field("utterance_id", "string"), Field("text", "string"), Field("confidence", "number"),
        _WORDS, _ALTERNATIVES,
    )),
    MessageSpec("reply.started", (
        Field("reply_id", "string"), Field("utterance_id", "string", doc="absent for typed input"),
    )),
    MessageSpec("reply.action", (
        Field("reply_id", "string"), Field("action", "string", doc="e.g. timer.set, clock.time"),
        Field("args", "object", doc="argument words from the request"),
    ), "the reply carried out an action; its text (reply.delta) holds the skill's values"),
    MessageSpec("reply.delta", (Field("reply_id", "string"), Field("text", "string"))),
    MessageSpec("reply.done", (
        Field("reply_id", "string"), Field("text", "string"),
        Field("finish_reason", "string", choices=FINISH_REASONS, doc=", ".join(FINISH_REASONS)),
        Field("confidence", "number"),
    )),
    MessageSpec("metrics", (
        Field("utterance_id", "string"), Field("reply_id", "string"),
        Field("audio_seconds", "number"), Field("compute_seconds", "number"),
        Field("first_partial_ms", "number"), Field("endpoint_to_final_ms", "number"),
        Field("final_to_first_token_ms", "number"),
    ), "per utterance or typed turn; latencies in ms, null when they do not apply"),
    MessageSpec("error", (
        Field("code", "string", doc="stable strings"), Field("message", "string"), Field("fatal", "boolean"),
    )),
    MessageSpec("timer.fired", (
        Field("timer_id", "string"), Field("kind", "string", choices=("timer", "alarm"), doc="timer, alarm"),
        Field("label", "string"), Field("due_at", "string", doc="ISO 8601"), Field("text", "string", doc="what to say"),
        Field("late", "boolean", doc="fired while no session of the conversation was connected"),
    ), "a timer or alarm set in this conversation came due"),
    MessageSpec("session.ended", (Field("session_id", "string"), Field("reason", "string"))),
    MessageSpec("pong", ()),
]}


# ---- parsing -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClientMessage:
    type: str
    data: dict[str, Any] = field(default_factory=dict)  # the validated known fields that were given

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)


@dataclass(frozen=True)
class AudioFrame:
    data: bytes  # PCM16 little-endian mono 16 kHz

    type = "binary"

    @property
    def num_samples(self) -> int:
        return len(self.data) // 2

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.num_samples / SAMPLE_RATE


def _check_value(spec: Field, value: Any, where: str, max_text_chars: int) -> Any:
    kind = spec.kind
    if value is None and not spec.required:
        return None
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool)
        and math.isfinite(value),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
        "strings": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "list": isinstance(value, list),
        "any": True,
    }[kind]
    if not ok:
        raise ProtocolError("bad_field", f"{where} must be {'a list of strings' if kind == 'strings' else kind}, "
                                         f"got {json.dumps(value)[:80]}")
    if spec.choices and value not in spec.choices:
        raise ProtocolError("bad_field", f"{where}={value!r}; valid choices: {', '.join(map(str, spec.choices))}")
    if kind == "string" and len(value) > max_text_chars:
        raise ProtocolError("too_large", f"{where} has {len(value)} characters; the limit is {max_text_chars}")
    if kind == "strings":
        if len(value) > MAX_LIST_ITEMS:
            raise ProtocolError("too_large", f"{where} has {len(value)} items; the limit is {MAX_LIST_ITEMS}")
        if any(len(v) > MAX_LIST_ITEM_CHARS for v in value):
            raise ProtocolError("too_large", f"{where} has an item over {MAX_LIST_ITEM_CHARS} characters")
    if kind == "object" and spec.fields:
        checked = dict(value)  # unknown sub-fields are kept (they may be options checked later) but untouched
        for sub in spec.fields:
            if sub.name in value:
                checked[sub.name] = _check_value(sub, value[sub.name], f"{where}.{sub.name}", max_text_chars)
        return checked
    return value


def parse(frame: str | bytes | bytearray | memoryview, *, max_audio_bytes: int = MAX_AUDIO_BYTES,
          max_message_bytes: int = MAX_MESSAGE_BYTES, max_text_chars: int = MAX_TEXT_CHARS
          ) -> ClientMessage | AudioFrame:
    """One incoming websocket frame -> message, or `ProtocolError` with a stable code."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame)
        if len(data) > max_audio_bytes:
            raise ProtocolError("too_large", f"audio frame of {len(data)} bytes; the limit is {max_audio_bytes} "
                                             f"({max_audio_bytes // 32} ms of 16 kHz PCM16)")
        if not data or len(data) % 2:
            raise ProtocolError("bad_audio", f"audio frame of {len(data)} bytes; PCM16 needs a positive even count")
        return AudioFrame(data)
    if not isinstance(frame, str):
        raise TypeError(f"frame must be str or bytes, got {type(frame).__name__}")
    if len(frame) > max_message_bytes:
        raise ProtocolError("too_large", f"text frame of {len(frame)} characters; the limit is {max_message_bytes}")
    try:
        obj = json.loads(frame)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError("bad_json", f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_message", f"a text frame must be a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "the JSON object needs a string `type`")
    spec = CLIENT_MESSAGES.get(kind)
    if spec is None or kind == "binary":
        raise ProtocolError("unknown_type", f"unknown message type {kind[:60]!r}; valid types: "
                                            f"{', '.join(t for t in CLIENT_MESSAGES if t != 'binary')}")
    data: dict[str, Any] = {}
    for item in spec.fields:
        if item.name not in obj or obj[item.name] is None:
            if item.required:
                raise ProtocolError("bad_field", f"{kind} needs `{item.name}`")
            continue
        data[item.name] = _check_value(item, obj[item.name], item.name, max_text_chars)
    message = ClientMessage(kind, data)
    if kind == "session.start":
        _check_session_start(message)
    return message


def _check_session_start(message: ClientMessage) -> None:
    version = message.get("protocol", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION:
        raise ProtocolError("unsupported_protocol", f"protocol={version}; this server speaks {PROTOCOL_VERSION}")
    audio = message.get("audio") or {}
    rate = audio.get("sample_rate", SAMPLE_RATE)
    encoding = audio.get("encoding", ENCODING)
    if rate != SAMPLE_RATE or str(encoding).lower() != ENCODING:
        raise ProtocolError("unsupported_audio", f"audio sample_rate={rate}, encoding={encoding!r}; "
                                                 f"send {SAMPLE_RATE} Hz {ENCODING} (mono, little-endian)")


# ---- server events -------------------------------------------------------------------------

def event(type: str, **fields: Any) -> dict[str, Any]:
    """A server event as a dict. Fields not in the spec are a programming error (assert)."""
    spec = SERVER_EVENTS.get(type)
    assert spec is not None, f"unknown server event {type!r}"
    known = {f.name for f in spec.fields}
    extra = set(fields) - known
    assert not extra, f"{type} has no fields {sorted(extra)}"
    return {"type": type, **fields}


def error_event(code: str, message: str, fatal: bool = False) -> dict[str, Any]:
    assert code in ERROR_CODES, code
    return event("error", code=code, message=message, fatal=fatal)


def dump(evt: dict[str, Any], seq: int) -> str:
    """Encode one server event with its per-connection sequence number."""
    assert "type" in evt and evt["type"] in SERVER_EVENTS, evt
    return json.dumps({**evt, "seq": seq}, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class Sequencer:
    """Numbers the events of one connection: 1, 2, 3, ..."""

    def __init__(self) -> None:
        self.seq = 0

    def dump(self, evt: dict[str, Any]) -> str:
        self.seq += 1
        return dump(evt, self.seq)


# ---- documentation -------------------------------------------------------------------------

def _field_md(item: Field) -> str:
    text = f"`{item.name}`"
    if item.fields:
        inner = ", ".join(f"`{sub.name}`" for sub in item.fields)
        text += " [{" + inner + "}]" if item.kind == "list" else " {" + inner + "}"
    if item.doc:
        text += f" ({item.doc})"
    return text


def _rows(specs: dict[str, MessageSpec]) -> list[tuple[list[str], MessageSpec]]:
    rows: dict[str, tuple[list[str], MessageSpec]] = {}
    for spec in specs.values():
        key = spec.row or spec.type
        if key in rows:
            rows[key][0].append(spec.type)
        else:
            rows[key] = ([spec.type], spec)
    return list(rows.values())


def markdown_tables() -> str:
    """The protocol tables in the format of DESIGN.md section 5 (docs/protocol.md and the README)."""
    lines = ["Client → server:", "", "| type | fields | meaning |", "| --- | --- | --- |"]
    for types, spec in _rows(CLIENT_MESSAGES):
        if types == ["binary"]:
            lines.append(f"| binary | PCM16 bytes | {spec.meaning} |")
            continue
        names = ", ".join(f"`{t}`" for t in types)
        meaning = spec.meaning if len(types) == 1 else "; ".join(
            f"`{t}`: {CLIENT_MESSAGES[t].meaning}" for t in types)
        lines.append(f"| {names} | {', '.join(_field_md(f) for f in spec.fields)} | {meaning} |")
    lines += ["", "Server → client:", "", "| type | fields |", "| --- | --- |"]
    for types, spec in _rows(SERVER_EVENTS):
        names = " / ".join(f"`{t}`" for t in types) if types[0].startswith("vad.") else ", ".join(
            f"`{t}`" for t in types)
        cell = ", ".join(_field_md(f) for f in spec.fields)
        if spec.meaning:
            cell = f"{cell}; {spec.meaning}" if cell else spec.meaning
        lines.append(f"| {names} | {cell} |")
    lines += ["", "Error codes (`error.code`):", "", "| code | sent when |", "| --- | --- |"]
    lines += [f"| `{code}` | {text} |" for code, text in ERROR_CODES.items()]
    return "\n".join(lines) + "\n"
