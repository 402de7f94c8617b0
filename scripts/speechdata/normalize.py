"""Text normalisation for the data build: speech.vocab.normalize_text, the one used in training.

`is_clean` checks that a normalised text fits the acoustic model's alphabet.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Callable

from speech.vocab import normalize_text

__all__ = ["get_normalizer", "normalizer_name", "is_clean", "non_words", "names_in", "text_problem",
           "duration_problem"]
# Debian wamerican and wbritish word lists (British spellings: favourite, humour)
DICTIONARIES = (Path("/usr/share/dict/american-english"), Path("/usr/share/dict/british-english"))
DICTIONARY_PACKAGES = ["wamerican", "wbritish"]
# informal words that voice actors read as written
INFORMAL = frozenset("ya yeah yep nope gonna wanna gotta okay ok hey huh uh um hmm oh ah er".split())

CLEAN_RE = re.compile(r"^[a-z']+( [a-z']+)*$")


def is_clean(text: str) -> bool:
    """True when `text` uses only the acoustic model's alphabet (a-z, apostrophe, single spaces)."""
    return bool(CLEAN_RE.match(text)) and "''" not in text


def get_normalizer() -> Callable[[str], str]:
    """The normaliser to use for every text this data build writes."""
    return normalize_text


def normalizer_name() -> str:
    return "speech.vocab.normalize_text"


@lru_cache(maxsize=1)
def _dictionary() -> frozenset[str]:
    words: set[str] = set()
    for path in DICTIONARIES:
        if path.exists():
            words.update(w.strip().lower() for w in path.read_text(encoding="utf-8", errors="replace").splitlines())
    return frozenset(words)


def names_in(raw_texts) -> frozenset[str]:
    """Words written capitalised inside a line (not first) somewhere in a source: its names ("Sparky")."""
    names = set()
    for text in raw_texts:
        for k, tok in enumerate(re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)*", text)):
            if k > 0 and tok[0].isupper() and not tok.isupper():
                names.add(tok.lower())
    return frozenset(names)


def non_words(raw_text: str, names: frozenset[str] = frozenset()) -> list[str]:
    """Words of an original (not yet normalised) line that are not English: not in the system word lists,
    not informal (INFORMAL), not a name (capitalised inside the line, or in `names`, see names_in).
    Catches grunts and invented languages ("Uh, oop ungha ugga!", "ungawa changa") that have no agreed
    spelling. Empty when no word list is installed (the check is then skipped)."""
    words = _dictionary()
    if not words:
        return []
    out = []
    for k, tok in enumerate(re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)*", raw_text)):
        low = tok.lower()
        base = low[:-2] if low.endswith("'s") else low
        if low in words or base in words or low in INFORMAL or low in names or base in names:
            continue
        if tok[0].isupper() and not tok.isupper() and k > 0:  # a capitalised word inside a line: a name
            continue
        out.append(tok)
    return out


def text_problem(raw: str, norm: str, babble: frozenset[str] | set[str] = frozenset()) -> str | None:
    """Why a found line cannot be a transcript (None when it can): digits (read several ways), text outside
    the alphabet after normalising, drawn-out words ("noooo"), laughter or babble words."""
    if re.search(r"\d", raw):
        return "number"
    if not norm or not is_clean(norm):
        return "not clean after normalising"
    words = norm.split()
    if any(re.search(r"([a-z])\1\1", w) for w in words):
        return "elongated word"
    if any(w in babble for w in words):
        return "laughter or babble"
    return None


def duration_problem(text: str, seconds: float) -> str | None:
    """A rough check that a clip holds its text and nothing else: letters/25 <= seconds <= 0.8 + letters/3."""
    letters = sum(c.isalpha() for c in text)
    if not letters:
        return "no letters"
    if seconds > 0.8 + letters / 3.0:
        return "too long for its text"
    if seconds < letters / 25.0:
        return "too short for its text"
    return None
