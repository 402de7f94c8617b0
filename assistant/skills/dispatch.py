"""`Skills`: runs the action the reply model wrote with the skill that carries it out.

Every action name of `dialogue.actions.ACTIONS` has exactly one handler here (a test keeps it so).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialogue.actions import ACTIONS, Action

from ..memory import Memory
from . import arithmetic, capabilities, clock, conversation, facts, lists, timers
from .base import Env, FiredTimer, SkillContext, SkillResult

__all__ = ["Skills"]

log = logging.getLogger(__name__)

Handler = Callable[[Env, dict[str, Any], SkillContext], SkillResult]
_MODULES = (clock, timers, arithmetic, lists, facts, conversation)


class Skills:
    """The assistant's skills over one `Memory`; times in `timezone`, `now` the clock (epoch seconds)."""

    def __init__(self, memory: Memory, timezone: str = "UTC", now: Callable[[], float] = time.time):
        if not isinstance(memory, Memory):
            raise ValueError(f"memory must be an assistant.Memory, got {type(memory).__name__}")
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"unknown time zone {timezone!r}; use an IANA name like 'Europe/Paris'") from None
        if not callable(now):
            raise ValueError(f"now must be a callable returning epoch seconds, got {now!r}")
        self.env = Env(memory, zone, now)
        self.timezone = timezone
        self._handlers: dict[str, Handler] = {"conv.yes": self._yes, "assistant.help": self._help}
        for module in (*_MODULES, capabilities):
            self._handlers.update(module.HANDLERS)
        missing = set(ACTIONS) - set(self._handlers)
        assert not missing, f"actions without a skill: {sorted(missing)}"

    def run(self, action: Action, ctx: SkillContext) -> SkillResult:
        """Carry out one action; `ValueError` for an unknown action name or arguments of the wrong type."""
        if not isinstance(action, Action):
            raise ValueError(f"action must be a dialogue.actions.Action, got {type(action).__name__}")
        if not isinstance(ctx, SkillContext):
            raise ValueError(f"ctx must be a SkillContext, got {type(ctx).__name__}")
        handler = self._handlers.get(action.name)
        if handler is None:
            raise ValueError(f"unknown action {action.name!r}; valid choices: {sorted(self._handlers)}")
        if not isinstance(action.args, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in action.args.items()):
            raise ValueError(f"action arguments must be a dict of strings, got {action.args!r}")
        if ctx.pending is not None and not isinstance(ctx.pending, Action):
            raise ValueError(f"ctx.pending must be an Action or None, got {type(ctx.pending).__name__}")
        result = handler(self.env, action.args, ctx)
        log.debug("%s -> %r", action, result.text)
        return result

    def _yes(self, env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
        pending = ctx.pending
        if pending is None:
            return SkillResult("Okay.")
        if pending.name in ("conv.yes", "conv.no"):  # a question never waits on a yes; guard the loop anyway
            return SkillResult("Okay.")
        return self.run(pending, SkillContext(ctx.conversation_id, ctx.owner, ctx.request, ctx.last_user,
                                              ctx.last_reply, None))

    def _help(self, env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
        return SkillResult(capabilities.help_text(self.describe()))

    # ---- timers that fire between turns -----------------------------------------------------

    def due(self, now: float | None = None) -> list[FiredTimer]:
        """Timers and alarms whose time has come and that were not handed out yet; marks them fired."""
        return timers.due(self.env, now)

    def undelivered(self, conversation_id: str) -> list[FiredTimer]:
        """Fired but not yet delivered in this conversation (to tell a resumed conversation)."""
        return timers.undelivered(self.env, conversation_id)

    def mark_delivered(self, timer_id: int) -> None:
        timers.mark_delivered(self.env, timer_id)

    def event(self, fired: FiredTimer, late: bool) -> dict[str, Any]:
        """The wire event fields of a fired timer: type timer.fired, timer_id, kind, label, due_at, late, text."""
        if not isinstance(fired, FiredTimer):
            raise ValueError(f"fired must be a FiredTimer, got {type(fired).__name__}")
        return timers.fired_event(self.env, fired, late)

    def describe(self) -> list[str]:
        """What the assistant can do, one phrase per skill (for assistant.help)."""
        return [module.DESCRIPTION for module in _MODULES]
