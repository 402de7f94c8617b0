"""Skills: carry out the actions the reply model writes (clock, timers, arithmetic, lists, user facts, ...).

Pure Python, no model code; their state lives in the conversation store's SQLite file (`Memory`).
"""

from .base import FiredTimer, SkillContext, SkillResult
from .dispatch import Skills

__all__ = ["FiredTimer", "SkillContext", "SkillResult", "Skills"]
