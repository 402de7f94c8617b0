"""The conversation itself: say that again, what did I say, stop, and no to the assistant's question.

Yes runs the pending action, so it lives with the dispatcher (`Skills`), which can run actions.
"""

from __future__ import annotations

from typing import Any

from .base import Env, SkillContext, SkillResult

__all__ = ["HANDLERS", "DESCRIPTION"]

DESCRIPTION = "repeat what I said, and tell you what you just said"


def repeat(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    if not ctx.last_reply:
        return SkillResult("I haven't said anything yet.")
    return SkillResult(ctx.last_reply)


def recall(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    if not ctx.last_user:
        return SkillResult("You haven't said anything before this.")
    return SkillResult(f"You said: {ctx.last_user}")


def stop(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    return SkillResult("Okay.", stop=True)  # a pending question is dropped: the result carries none


def no(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    return SkillResult("Okay, I won't." if ctx.pending is not None else "Alright.")


HANDLERS = {"conv.repeat": repeat, "conv.recall": recall, "conv.stop": stop, "conv.no": no}
