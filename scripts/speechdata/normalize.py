"""Text normalisation for the data build: speech.vocab.normalize_text, the one used in training.

`is_clean` checks that a normalised text fits the acoustic model's alphabet.
"""
from __future__ import annotations

import re
from typing import Callable

from speech.vocab import normalize_text

__all__ = ["get_normalizer", "normalizer_name", "is_clean"]

CLEAN_RE = re.compile(r"^[a-z']+( [a-z']+)*$")


def is_clean(text: str) -> bool:
    """True when `text` uses only the acoustic model's alphabet (a-z, apostrophe, single spaces)."""
    return bool(CLEAN_RE.match(text)) and "''" not in text


def get_normalizer() -> Callable[[str], str]:
    """The normaliser to use for every text this data build writes."""
    return normalize_text


def normalizer_name() -> str:
    return "speech.vocab.normalize_text"
