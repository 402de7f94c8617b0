"""The reply bundle: tokenizer + model + default decoding options + context building."""

from __future__ import annotations

import io
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import torch

from .actions import is_action
from .decoding import DecodingOptions, generate_steps
from .model import Seq2Seq, Seq2SeqConfig
from .text import _SPACES, FALLBACK_REPLY, normalize_input, build_source, clean_words, finish_reply
from .tokenizer import EOS_ID, Tokenizer

logger = logging.getLogger(__name__)

FORMAT = "dialogue-seq2seq"
VERSION = 1
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
PRETRAINED = {"en": PRETRAINED_DIR / "en.pt"}
REQUIRED_KEYS = ("format", "version", "config", "tokenizer", "state_dict")


class ReplyStream:
    """One reply being generated: iterate for text pieces (whole words), then read the result.

    After the iteration ends: ``text`` (the whole reply, equal to the joined pieces),
    ``finish_reason`` ("eos", "length", or "cancelled" after ``close()``), ``confidence``
    (mean log-probability of the generated tokens, end token included; 0 is certain),
    ``tokens`` (the reply's token ids).
    """

    def __init__(self, responder: "Responder", src_ids: list[int], options: DecodingOptions, avoid=(), block=None):
        self._responder = responder
        self._steps = generate_steps(responder.model, src_ids, options, responder.banned_ids, avoid, block)
        self._pieces = self._run()
        self.src_ids = src_ids
        self.options = options
        self.tokens: list[int] = []
        self.logprobs: list[float] = []
        self.text = ""
        self.finish_reason: Optional[str] = None
        self.done = False

    @property
    def confidence(self) -> float:
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else float("-inf")

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    def __next__(self) -> str:
        return next(self._pieces)

    def _emit(self, piece: str) -> str:
        self.text += piece
        return piece

    def _run(self) -> Iterator[str]:
        tok = self._responder.tokenizer
        emitted = 0  # characters of the raw decoded text already sent
        reason = "length"
        markup = False  # action markup (dialogue.actions) is passed on exactly as written, never "cleaned"
        for step in self._steps:
            self.logprobs.append(step.logprob)
            if step.token == EOS_ID:
                reason = "eos"
                break
            self.tokens.append(step.token)
            raw = _SPACES.sub(" ", tok.decode(self.tokens)).lstrip()  # collapsing is prefix-stable
            markup = markup or (not self.text and is_action(raw))
            cut = raw.rfind(" ")  # everything before the newest word boundary is complete words
            if cut > emitted:
                piece = raw[emitted:cut] if markup else clean_words(raw[emitted:cut], at_start=not self.text.strip())
                emitted = cut
                if piece:
                    yield self._emit(piece)
        raw = _SPACES.sub(" ", tok.decode(self.tokens)).lstrip()
        if markup:
            last = raw[emitted:].rstrip()
        else:
            last = clean_words(raw[emitted:], at_start=not self.text.strip())
            last = finish_reply(self.text, last)
        if not (self.text + last).strip():
            last = FALLBACK_REPLY
        self.finish_reason = reason
        self.done = True
        if last:
            yield self._emit(last)

    def close(self) -> None:
        """Stop generating; ``text`` keeps what was already yielded."""
        if not self.done:
            self._pieces.close()
            self._steps.close()
            self.finish_reason = "cancelled"
            self.done = True

    def read(self) -> str:
        """Run to the end and return the whole reply."""
        for _ in self:
            pass
        return self.text


class Responder:
    """Turns a conversation into a reply with a trained Seq2Seq model."""

    def __init__(
        self,
        model: Seq2Seq,
        tokenizer: Tokenizer,
        history_turns: int = 2,
        max_source_tokens: int = 64,
        options: Optional[DecodingOptions] = None,
        metrics: Optional[dict] = None,
    ):
        if model.config.vocab_size != len(tokenizer):
            raise ValueError(f"model vocab_size {model.config.vocab_size} != tokenizer size {len(tokenizer)}")
        if not isinstance(history_turns, int) or history_turns < 0:
            raise ValueError(f"history_turns={history_turns!r}; must be an integer >= 0")
        if not isinstance(max_source_tokens, int) or max_source_tokens < 1:
            raise ValueError(f"max_source_tokens={max_source_tokens!r}; must be an integer >= 1")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.history_turns = history_turns
        self.max_source_tokens = max_source_tokens
        self.options = options or DecodingOptions()
        self.metrics = dict(metrics or {})
        # never produce special tokens or raw bytes (which could form broken characters)
        self.banned_ids = tuple(i for i in tokenizer.special_ids if i != EOS_ID) + tokenizer.byte_ids
        self._echo_block = (EOS_ID,) + tuple(
            i for i in range(len(tokenizer))
            if i not in self.banned_ids and not any(ch.isalnum() for ch in tokenizer.id_to_piece(i))
        )

    # ------------------------------------------------------------------ replies
    def source_ids(self, history: Sequence[str], text: str) -> list[int]:
        return build_source(self.tokenizer, history, text, self.history_turns, self.max_source_tokens)

    def _options(self, options) -> DecodingOptions:
        if options is None:
            return self.options
        if isinstance(options, DecodingOptions):
            return options
        if isinstance(options, dict):
            # a dict overrides the responder's defaults key by key (unknown keys are an error)
            return DecodingOptions.from_dict({**self.options.to_dict(), **_checked(options)})
        raise ValueError(f"options must be DecodingOptions, a dict or None, got {type(options).__name__}")

    def start(self, history: Sequence[str], text: str, options=None) -> ReplyStream:
        """Begin a reply; iterate the returned stream for text pieces.

        ``history`` alternates user and bot turns, oldest first, and ends with the bot's last reply.
        """
        src = self.source_ids(history, text)
        options = self._options(options)
        previous = [self.tokenizer.encode(t) for t in list(history)[-1::-2][:2]] if options.avoid_previous_reply else []
        prompt = normalize_input(text)

        def no_echo(tokens: list[int]) -> Sequence[int]:
            # while the reply so far just repeats the prompt, it may neither end nor add only punctuation
            if prompt and normalize_input(self.tokenizer.decode(tokens)) == prompt:
                return self._echo_block
            return ()

        return ReplyStream(self, src, options, previous, no_echo)

    def stream(self, history: Sequence[str], text: str, options=None) -> Iterator[str]:
        """Text pieces of the reply (whole words, never part of a character)."""
        yield from self.start(history, text, options)

    def reply(self, history: Sequence[str], text: str, options=None) -> str:
        return self.start(history, text, options).read()

    # ------------------------------------------------------------- persistence
    def to_checkpoint(self, dtype: torch.dtype = torch.float32) -> dict:
        state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in self.model.state_dict().items()}
        return {
            "format": FORMAT,
            "version": VERSION,
            "config": self.model.config.to_dict(),
            "tokenizer": self.tokenizer.to_bytes(),
            "state_dict": state,
            "responder": {
                "history_turns": self.history_turns,
                "max_source_tokens": self.max_source_tokens,
                "options": self.options.to_dict(),
            },
            "metrics": self.metrics,
        }

    def save(self, path: Union[str, os.PathLike], half: bool = False) -> Path:
        """Write a self-contained checkpoint atomically; ``half`` stores weights as float16."""
        path = Path(path)
        return atomic_save(self.to_checkpoint(torch.float16 if half else torch.float32), path)

    @classmethod
    def from_checkpoint(cls, ckpt: dict, device: Union[str, torch.device] = "cpu") -> "Responder":
        if not isinstance(ckpt, dict):
            raise ValueError(f"not a dialogue checkpoint: expected a dict, got {type(ckpt).__name__}")
        missing = [k for k in REQUIRED_KEYS if k not in ckpt]
        if missing:
            raise ValueError(f"not a dialogue checkpoint: missing keys {missing}; found keys {sorted(ckpt)}")
        if ckpt["format"] != FORMAT:
            raise ValueError(f"checkpoint format {ckpt['format']!r} is not {FORMAT!r}")
        if ckpt["version"] > VERSION:
            raise ValueError(f"checkpoint version {ckpt['version']} is newer than supported ({VERSION})")
        tokenizer = Tokenizer.from_bytes(ckpt["tokenizer"])
        model = Seq2Seq(Seq2SeqConfig.from_dict(ckpt["config"]))
        state = {k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"checkpoint weights do not match its config: {err}") from err
        model.to(device)
        extra = ckpt.get("responder", {})
        options = DecodingOptions.from_dict(extra.get("options")) if extra.get("options") else None
        return cls(
            model,
            tokenizer,
            history_turns=extra.get("history_turns", 2),
            max_source_tokens=extra.get("max_source_tokens", 64),
            options=options,
            metrics=ckpt.get("metrics"),
        )

    @classmethod
    def load(cls, name_or_path: Union[str, os.PathLike] = "en", device: Union[str, torch.device] = "cpu") -> "Responder":
        """Load the shipped model by name ("en") or any dialogue checkpoint by path."""
        path = resolve_checkpoint(name_or_path)
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{path} is not a readable dialogue checkpoint ({type(err).__name__}: {err})") from err
        try:
            return cls.from_checkpoint(ckpt, device=device)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err


def _checked(options: dict) -> dict:
    DecodingOptions.from_dict(options)  # raises naming unknown keys / bad values
    return options


def resolve_checkpoint(name_or_path: Union[str, os.PathLike]) -> Path:
    if isinstance(name_or_path, str) and name_or_path in PRETRAINED:
        path = PRETRAINED[name_or_path]
        if not path.is_file():
            raise FileNotFoundError(f"shipped dialogue model {name_or_path!r} is missing at {path}")
        return path
    path = Path(name_or_path)
    if path.is_dir():
        found = sorted(path.glob("*.pt"))
        for preferred in ("en.pt", "best.pt", "last.pt"):
            if path / preferred in found:
                return path / preferred
        if len(found) == 1:
            return found[0]
        raise FileNotFoundError(f"no single dialogue checkpoint in {path}; *.pt files there: {[f.name for f in found]}")
    if not path.is_file():
        raise FileNotFoundError(
            f"dialogue model {str(name_or_path)!r} not found: not a file; shipped names: {sorted(PRETRAINED)}"
        )
    return path


def atomic_save(obj: dict, path: Path) -> Path:
    """torch.save to a temporary file in the same folder, then os.replace (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; checkpoints are shared files like any other output
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
