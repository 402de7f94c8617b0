"""Text normalisation: `speech.vocab.normalize_text` when the package provides it, else a local fallback.

The fallback follows the same contract (lowercase, numbers/ordinals/times/years/currency/percent spelled
out, other punctuation dropped, apostrophes kept inside words, single spaces) so the manifests are
usable before speech/vocab.py exists. `normalizer_name()` says which one ran; it is logged and written
to the build info so a rebuild can be compared.
"""
from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Callable

from .numbers import number_words, ordinal_words, time_words, year_words

__all__ = ["get_normalizer", "normalizer_name", "is_clean", "fallback_normalize"]

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
CLEAN_RE = re.compile(r"^[a-z']+( [a-z']+)*$")
_cache: dict[str, object] = {}


def is_clean(text: str) -> bool:
    """True when `text` uses only the acoustic model's alphabet (a-z, apostrophe, single spaces)."""
    return bool(CLEAN_RE.match(text)) and "''" not in text


def _num(m: re.Match) -> str:
    s = m.group(0).replace(",", "")
    if "." in s:
        whole, frac = s.split(".", 1)
        return number_words(int(whole or 0)) + " point " + " ".join(number_words(int(d)) for d in frac)
    n = int(s)
    if len(s) == 4 and 1100 <= n <= 2099:
        return year_words(n)
    if len(s) > 12:
        return " ".join(number_words(int(d)) for d in s)
    return number_words(n)


def fallback_normalize(text: str) -> str:
    """Contract-compatible normaliser used only when speech.vocab is not importable."""
    t = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    t = re.sub(r"\b(\d{1,2}):(\d{2})\s*([ap])\.?m\.?\b",
               lambda m: time_words(int(m.group(1)), int(m.group(2)), m.group(3) + "m"), t, flags=re.I)
    t = re.sub(r"\b(\d{1,2}):(\d{2})\b", lambda m: time_words(int(m.group(1)), int(m.group(2))), t)
    t = re.sub(r"\b(\d{1,2})\s*([ap])\.?m\.?\b", lambda m: time_words(int(m.group(1)), 0, m.group(2) + "m"),
               t, flags=re.I)
    t = re.sub(r"\$(\d[\d,]*)(?:\.(\d\d))?",
               lambda m: number_words(int(m.group(1).replace(",", ""))) + " dollars"
               + (" and " + number_words(int(m.group(2))) + " cents" if m.group(2) and int(m.group(2)) else ""), t)
    t = re.sub(r"(\d+(?:\.\d+)?)\s*%", lambda m: _num(re.match(r".*", m.group(1))) + " percent", t)
    t = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: ordinal_words(int(m.group(1))), t, flags=re.I)
    t = re.sub(r"\d[\d,]*(?:\.\d+)?", lambda m: " " + _num(m) + " ", t)
    t = t.replace("&", " and ").replace("@", " at ").replace("+", " plus ")
    t = t.lower()
    t = re.sub(r"[-\u2013\u2014/_]", " ", t)
    t = re.sub(r"[^a-z' ]", " ", t)
    t = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", t)
    return " ".join(t.split())


def _load() -> Callable[[str], str]:
    if "fn" in _cache:
        return _cache["fn"]  # type: ignore[return-value]
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        from speech.vocab import normalize_text  # type: ignore
        normalize_text("set a timer for 5 minutes")
        _cache["fn"], _cache["name"] = normalize_text, "speech.vocab.normalize_text"
    except Exception as exc:  # missing module, or a half-written one that fails to import
        log.warning("speech.vocab.normalize_text unavailable (%s); using the local fallback normaliser", exc)
        _cache["fn"], _cache["name"] = fallback_normalize, "speechdata.normalize.fallback_normalize"
    return _cache["fn"]  # type: ignore[return-value]


def get_normalizer() -> Callable[[str], str]:
    """The normaliser to use for every text this data build writes."""
    return _load()


def normalizer_name() -> str:
    _load()
    return str(_cache["name"])
