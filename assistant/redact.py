"""Keeps auth tokens out of logs.

websockets logs request lines and headers at DEBUG level: `GET /v1/ws?token=...` and
`Authorization: Bearer ...`. `RedactTokens` is a logging filter that replaces those values with
`[redacted]`; `redacting_logger(name)` is a logger with it, to hand to websockets as `logger=`.
"""
from __future__ import annotations

import logging
import re

__all__ = ["RedactTokens", "redact", "redacting_logger"]

_PATTERNS = (re.compile(r"([?&]token=)[^&\s]*", re.IGNORECASE),
             re.compile(r"(authorization:\s*(?:\S+\s+)?)\S+", re.IGNORECASE))


def redact(text: str) -> str:
    """`text` with token query values and Authorization header values replaced by `[redacted]`."""
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1[redacted]", text)
    return text


class RedactTokens(logging.Filter):
    """A logging filter: the formatted message, redacted (records without tokens pass unchanged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = redact(text)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


def redacting_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
    return logger
