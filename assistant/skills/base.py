"""What every skill takes and gives: the turn's context, the result, a fired timer, the shared setting."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from dialogue.actions import Action

from ..memory import Memory

__all__ = ["SkillContext", "SkillResult", "FiredTimer", "Env"]


@dataclass
class SkillContext:
    """What a skill may know about the turn besides the action's words."""

    conversation_id: str  # where timers are announced when they fire
    owner: str = "local"  # whose lists, facts and timers
    request: str = ""  # the user's words this turn
    last_user: str | None = None  # the previous user turn
    last_reply: str | None = None  # the assistant's previous delivered reply
    pending: Action | None = None  # an action awaiting the user's yes or no


@dataclass
class SkillResult:
    """The whole reply to say, with the real values, and what else happened."""

    text: str
    events: list[dict[str, Any]] = field(default_factory=list)  # informational, e.g. {"type": "timer.set", ...}
    pending: Action | None = None  # set when the reply asks a yes/no question: the action to run on yes
    stop: bool = False  # the user said stop: say nothing more, cancel what is playing


@dataclass(frozen=True)
class FiredTimer:
    """A timer or alarm whose time has come."""

    id: int
    conversation_id: str
    owner: str
    kind: str  # "timer" | "alarm"
    label: str | None  # "pasta", "call mom" (a reminder), or None
    duration: float | None  # seconds a timer was set for; None for alarms
    due_at: float  # epoch seconds
    fired_at: float | None  # epoch seconds


@dataclass
class Env:
    """What skills share: the store, the user's time zone, the clock (injectable for tests)."""

    memory: Memory
    zone: ZoneInfo
    clock: Callable[[], float]

    def now(self) -> dt.datetime:
        """The current time, aware, in the user's zone."""
        return dt.datetime.fromtimestamp(self.clock(), self.zone)

    def local(self, epoch: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(epoch, self.zone)
