"""`AssistantConfig`: everything a running assistant needs, in one validated dataclass.

The server, the terminal chat and the tests build one of these; `Assistant.load(config)`
turns it into loaded models and an open conversation store.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AssistantConfig", "DEFAULT_DB_PATH", "VAD_MODES", "ENDPOINT_SENSITIVITIES", "check_timezone", "local_timezone"]

DEFAULT_DB_PATH = "data/assistant.db"
VAD_MODES = ("server", "client")
ENDPOINT_SENSITIVITIES = ("low", "medium", "high")


def check_timezone(name: str) -> str:
    """`name` if it is an IANA time zone this machine knows, else ValueError."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        if not isinstance(name, str) or not name.strip():
            raise ValueError
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"timezone={name!r} is not a known IANA time zone (e.g. 'Europe/Paris', 'UTC')") from None
    return name


def local_timezone() -> str:
    """This machine's IANA zone name: $TZ, else the /etc/localtime link, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        link = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in link:
            candidates.append(link.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        try:
            return check_timezone(name)
        except ValueError:
            continue
    return "UTC"


@dataclass
class AssistantConfig:
    # --- models -------------------------------------------------------------------------------
    speech_model: str = "en"  # `Recognizer.load` argument: "en" (shipped model) or a checkpoint path
    speech_int8: bool | None = None  # int8 weights (`quantize`): None = the model's choice (the shipped one runs int8)
    dialogue_model: str = "en"  # `Responder.load` argument: "en" (shipped model) or a checkpoint path
    # --- memory -------------------------------------------------------------------------------
    db_path: str = DEFAULT_DB_PATH  # SQLite file of the conversation memory (":memory:" for a throwaway one)
    history_turns: int = 6  # how many stored turns (user + assistant) feed the dialogue model
    # --- recognition --------------------------------------------------------------------------
    partials: bool = True  # send transcript.partial events while the person speaks
    greedy_partials: bool = True  # partials by greedy decoding; the beam search + LM runs beside them (the server's
    #                               search thread) and gives the same final. False: the beam's own partials
    hotwords: tuple[str, ...] = ()  # words the recognizer boosts by default (session.update can change them)
    vad_mode: str = "server"  # "server": end of speech detected here; "client": the client sends audio.end
    endpoint_sensitivity: str = "medium"  # speech.endpoint preset: "low" | "medium" | "high"
    silence_ms: int = 700  # silence that ends an utterance (server VAD)
    preroll_ms: int = 500  # audio kept from before the detected speech start and given to the recognizer
    max_utterance_seconds: float = 30.0  # an utterance this long is ended even without silence
    # --- replies ------------------------------------------------------------------------------
    decoding: dict[str, Any] = field(default_factory=dict)  # default dialogue DecodingOptions fields
    # --- skills -------------------------------------------------------------------------------
    timezone: str | None = None  # IANA zone for the clock, alarms and dates ("Europe/Paris"); None = this machine's
    owner: str = "local"  # whose lists and remembered facts a conversation uses (one household by default)
    # --- limits -------------------------------------------------------------------------------
    max_sessions: int = 256  # concurrent websocket sessions, a hard cap; one more gets `busy` (the server's
    #                          admission by measured load refuses earlier: ServerOptions.admit_*)
    max_frame_bytes: int = 32000  # largest binary frame: 1 s of 16 kHz PCM16
    max_message_bytes: int = 65536  # largest text (JSON) frame
    max_text_chars: int = 2000  # longest text.input
    max_session_seconds: float = 3600.0  # a session (connection) is closed after this long
    idle_timeout_seconds: float = 300.0  # a connection that sends nothing for this long is closed
    max_backlog_seconds: float = 3.0  # audio waiting for recognition per session before `overloaded`
    send_queue_size: int = 256  # events waiting to be sent to one client before it counts as too slow

    def __post_init__(self) -> None:
        self.hotwords = tuple(self.hotwords)
        if self.vad_mode not in VAD_MODES:
            raise ValueError(f"vad_mode={self.vad_mode!r}; valid choices: {', '.join(VAD_MODES)}")
        if self.endpoint_sensitivity not in ENDPOINT_SENSITIVITIES:
            raise ValueError(
                f"endpoint_sensitivity={self.endpoint_sensitivity!r}; "
                f"valid choices: {', '.join(ENDPOINT_SENSITIVITIES)}"
            )
        positive_ints = ("history_turns", "max_sessions", "max_frame_bytes", "max_message_bytes",
                         "max_text_chars", "send_queue_size", "silence_ms")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}={value!r}; must be a positive integer")
        if not isinstance(self.preroll_ms, int) or self.preroll_ms < 0:
            raise ValueError(f"preroll_ms={self.preroll_ms!r}; must be an integer >= 0")
        positive_floats = ("max_utterance_seconds", "max_session_seconds", "idle_timeout_seconds",
                           "max_backlog_seconds")
        for name in positive_floats:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}={value!r}; must be a positive number")
        if not isinstance(self.greedy_partials, bool):
            raise ValueError(f"greedy_partials={self.greedy_partials!r}; must be True or False")
        if self.speech_int8 is not None and not isinstance(self.speech_int8, bool):
            raise ValueError(f"speech_int8={self.speech_int8!r}; must be True, False or None (the model's choice)")
        if not isinstance(self.decoding, dict):
            raise ValueError(f"decoding={self.decoding!r}; must be a dict of DecodingOptions fields")
        if self.timezone is not None:
            check_timezone(self.timezone)
        if not isinstance(self.owner, str) or not self.owner.strip():
            raise ValueError(f"owner={self.owner!r}; must be a non-empty string")
        if self.max_frame_bytes % 2:
            raise ValueError(f"max_frame_bytes={self.max_frame_bytes}; must be even (PCM16 samples)")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["hotwords"] = list(self.hotwords)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AssistantConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown AssistantConfig fields {unknown}; valid fields: {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> "AssistantConfig":
        return dataclasses.replace(self, **changes)
