"""Text conventions shared by training and inference.

The encoder always sees *normalised* turns (lowercase, no punctuation), the same
shape the speech recogniser produces, so typed and spoken input look alike.
Replies are cleaned word by word so streaming and whole replies agree.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

from .tokenizer import SEP_ID, Tokenizer

_APOS = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u201c": '"', "\u201d": '"'})
_NON_WORD = re.compile(r"[^\w\s']+")
_SPACES = re.compile(r"\s+")
_LONE_I = re.compile(r"\bi(?=$|['\s])")
END_PUNCT = ".!?\u2026"
FALLBACK_REPLY = "Sorry, I don't know what to say to that."


def normalize_input(text: str) -> str:
    """A user or bot turn as the encoder sees it: lowercase words, apostrophes kept, no other punctuation."""
    text = unicodedata.normalize("NFKC", str(text)).translate(_APOS).lower()
    text = _NON_WORD.sub(" ", text).replace("_", " ")
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)  # quotes, not apostrophes inside words
    return _SPACES.sub(" ", text).strip()


def build_source(tokenizer: Tokenizer, history: Sequence[str], text: str, history_turns: int, max_tokens: int) -> list[int]:
    """Encoder input: the last ``history_turns`` turns and ``text`` joined by the separator, oldest side cut."""
    if isinstance(history, str) or not all(isinstance(h, str) for h in history):
        raise ValueError("history must be a list of strings (oldest first)")
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    turns = (list(history[-history_turns:]) if history_turns > 0 else []) + [text]
    ids: list[int] = []
    for i, turn in enumerate(turns):
        if i:
            ids.append(SEP_ID)
        ids.extend(tokenizer.encode(normalize_input(turn)))
    ids = ids[-max_tokens:]
    return ids or [SEP_ID]


def clean_words(piece: str, at_start: bool) -> str:
    """Word-local clean-up of a reply piece: capital first letter, capital "I"."""
    piece = _SPACES.sub(" ", piece)
    if at_start:
        piece = piece.lstrip()
        for k, ch in enumerate(piece):
            if ch.isalpha():
                piece = piece[:k] + ch.upper() + piece[k + 1 :]
                break
            if ch.isdigit():
                break
    return _LONE_I.sub("I", piece)


def finish_reply(text_so_far: str, last_piece: str) -> str:
    """The closing piece: strip trailing space and end with punctuation."""
    piece = last_piece.rstrip()
    full = (text_so_far + piece).rstrip()
    if full and full[-1] not in END_PUNCT:
        piece += "."
    return piece


def clean_target(text: str) -> str:
    """A training reply in the shape replies are produced in."""
    text = unicodedata.normalize("NFKC", text).translate(_APOS)
    text = _SPACES.sub(" ", text).strip()
    text = clean_words(text, True)
    if text and text[-1] not in END_PUNCT and text[-1] not in "\"')":
        text += "."
    return text
