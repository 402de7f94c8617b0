"""Decoding for the reply model, separate from the model and driven by frozen options.

``generate`` is a generator of token ids. Greedy and sampling yield each token as
soon as it is chosen; beam search has to finish its search before the best
hypothesis is known, then yields that hypothesis token by token.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, NamedTuple, Optional, Sequence

import torch
from torch import Tensor

from .model import Seq2Seq, reorder_state
from .tokenizer import BOS_ID, EOS_ID

STRATEGIES = ("greedy", "beam", "sample")


@dataclass(frozen=True)
class DecodingOptions:
    strategy: str = "greedy"  # "greedy" | "beam" | "sample"
    beam_size: int = 4  # hypotheses kept by beam search (strategy="beam")
    length_penalty: float = 1.0  # beam score = log-prob / ((5+len)/6)**length_penalty; 0 = no normalisation
    temperature: float = 1.0  # sampling temperature (> 0); below 1 is more conservative
    top_k: int = 0  # sample among the k most likely tokens; 0 = no limit
    top_p: float = 1.0  # nucleus sampling: smallest set with this much probability; 1.0 = no limit
    min_length: int = 1  # the end token is blocked before this many reply tokens
    max_length: int = 40  # at most this many reply tokens (finish_reason "length" when reached)
    no_repeat_ngram_size: int = 0  # block any n-gram of this size from appearing twice in the reply; 0 = off
    avoid_previous_reply: bool = False  # also block n-grams of the bot's last two replies (n = no_repeat_ngram_size or 4)
    repetition_penalty: float = 1.0  # > 1 discourages tokens already in the reply (CTRL style); 1.0 = off
    seed: Optional[int] = None  # seed for sampling; None draws from torch's global generator

    def __post_init__(self):
        def bad(name, value, valid):
            raise ValueError(f"DecodingOptions.{name}={value!r} is invalid; valid: {valid}")

        if self.strategy not in STRATEGIES:
            bad("strategy", self.strategy, " | ".join(repr(s) for s in STRATEGIES))

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        if not is_int(self.beam_size) or self.beam_size < 1:
            bad("beam_size", self.beam_size, "an integer >= 1")
        if not is_num(self.length_penalty) or self.length_penalty < 0:
            bad("length_penalty", self.length_penalty, "a number >= 0")
        if not is_num(self.temperature) or self.temperature <= 0:
            bad("temperature", self.temperature, "a number > 0")
        if not is_int(self.top_k) or self.top_k < 0:
            bad("top_k", self.top_k, "an integer >= 0 (0 = off)")
        if not is_num(self.top_p) or not 0 < self.top_p <= 1:
            bad("top_p", self.top_p, "a number in (0, 1] (1.0 = off)")
        if not is_int(self.min_length) or self.min_length < 0:
            bad("min_length", self.min_length, "an integer >= 0")
        if not is_int(self.max_length) or self.max_length < 1:
            bad("max_length", self.max_length, "an integer >= 1")
        if self.min_length > self.max_length:
            bad("min_length", self.min_length, f"an integer <= max_length ({self.max_length})")
        if not is_int(self.no_repeat_ngram_size) or self.no_repeat_ngram_size < 0:
            bad("no_repeat_ngram_size", self.no_repeat_ngram_size, "an integer >= 0 (0 = off)")
        if not is_num(self.repetition_penalty) or self.repetition_penalty <= 0:
            bad("repetition_penalty", self.repetition_penalty, "a number > 0 (1.0 = off)")
        if not isinstance(self.avoid_previous_reply, bool):
            bad("avoid_previous_reply", self.avoid_previous_reply, "True or False")
        if self.seed is not None and not is_int(self.seed):
            bad("seed", self.seed, "an integer or None")

    @classmethod
    def from_dict(cls, d: Optional[dict]) -> "DecodingOptions":
        """Options from a plain dict (wire protocol, config files); unknown keys are an error."""
        if d is None:
            return cls()
        if isinstance(d, DecodingOptions):
            return d
        if not isinstance(d, dict):
            raise ValueError(f"decoding options must be a dict, got {type(d).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(k for k in d if k not in names)
        if unknown:
            raise ValueError(f"unknown decoding option(s) {unknown}; valid keys: {', '.join(names)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "DecodingOptions":
        return DecodingOptions.from_dict({**self.to_dict(), **changes})


class Step(NamedTuple):
    token: int  # chosen id (EOS_ID on the final step when the reply ended naturally)
    logprob: float  # the model's log-probability of that token (before penalties and temperature)


def _banned_ngram_tokens(tokens: Sequence[int], n: int) -> list[int]:
    """Tokens that would complete an n-gram already present in ``tokens``."""
    if n <= 0 or len(tokens) < n - 1:
        return []
    if n == 1:
        return list(set(tokens))
    prefix = tuple(tokens[len(tokens) - (n - 1) :])
    out = []
    for i in range(len(tokens) - n + 1):
        if tuple(tokens[i : i + n - 1]) == prefix:
            out.append(tokens[i + n - 1])
    return out


def _history_blocked(tokens: Sequence[int], avoid: Sequence[Sequence[int]], n: int) -> list[int]:
    """Tokens that would reproduce an n-gram of one of the ``avoid`` sequences."""
    if n < 2 or len(tokens) < n - 1:
        return []
    prefix = tuple(tokens[len(tokens) - (n - 1) :])
    return [seq[i + n - 1] for seq in avoid for i in range(len(seq) - n + 1) if tuple(seq[i : i + n - 1]) == prefix]


def _adjust(logits: Tensor, tokens: Sequence[int], step: int, options: DecodingOptions, banned: Tensor,
            avoid: Sequence[Sequence[int]] = ()) -> Tensor:
    """Raw logits (V,) -> log-scores after penalties and blocks (temperature not applied)."""
    logits = logits.float().clone()
    if options.repetition_penalty != 1.0 and tokens:
        idx = torch.tensor(sorted(set(tokens)), dtype=torch.long)
        vals = logits[idx]
        logits[idx] = torch.where(vals > 0, vals / options.repetition_penalty, vals * options.repetition_penalty)
    scores = torch.log_softmax(logits, dim=-1)  # (V,)
    if banned.numel():
        scores[banned] = float("-inf")
    if step < options.min_length:
        scores[EOS_ID] = float("-inf")
    if options.no_repeat_ngram_size:
        block = _banned_ngram_tokens(tokens, options.no_repeat_ngram_size)
        if block:
            scores[torch.tensor(block, dtype=torch.long)] = float("-inf")
    if avoid:
        block = _history_blocked(tokens, avoid, options.no_repeat_ngram_size or 4)
        if block:
            scores[torch.tensor(block, dtype=torch.long)] = float("-inf")
    return scores


def _sample(scores: Tensor, options: DecodingOptions, generator: Optional[torch.Generator]) -> int:
    scores = scores / options.temperature  # (V,)
    if options.top_k:
        k = min(options.top_k, scores.numel())
        kth = torch.topk(scores, k).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if options.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        cum = torch.cumsum(probs, dim=-1)
        drop = cum - probs > options.top_p  # keep the smallest prefix reaching top_p
        sorted_scores = sorted_scores.masked_fill(drop, float("-inf"))
        scores = torch.full_like(scores, float("-inf")).scatter(0, order, sorted_scores)
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator).item())


def _as_source(model: Seq2Seq, src_ids) -> tuple[Tensor, Tensor]:
    device = next(model.parameters()).device
    src = torch.as_tensor(list(src_ids) if not isinstance(src_ids, Tensor) else src_ids, dtype=torch.long)
    if src.dim() != 1:
        raise ValueError(f"src_ids must be one sequence of token ids, got shape {tuple(src.shape)}")
    if src.numel() == 0:
        raise ValueError("src_ids is empty; the encoder needs at least one token")
    return src.unsqueeze(0).to(device), torch.tensor([src.numel()])  # (1,S), (1,)


def generate_steps(
    model: Seq2Seq,
    src_ids,
    options: Optional[DecodingOptions] = None,
    banned_ids: Iterable[int] = (),
    avoid: Sequence[Sequence[int]] = (),
    block: Optional[Callable[[list[int]], Sequence[int]]] = None,
) -> Iterator[Step]:
    """Yield ``Step(token, logprob)`` one at a time; the last step is EOS_ID when the reply ended naturally.

    Each step runs under ``torch.inference_mode``, entered and left around every ``next()``:
    a ``with`` block held open across ``yield`` would leak the mode into the caller between
    steps (and restore it at the wrong moment when the generator is closed elsewhere).
    """
    steps = _generate_steps(model, src_ids, options, banned_ids, avoid, block)
    try:
        while True:
            with torch.inference_mode():
                try:
                    step = next(steps)
                except StopIteration:
                    return
            yield step
    finally:
        steps.close()


def _generate_steps(
    model: Seq2Seq,
    src_ids,
    options: Optional[DecodingOptions] = None,
    banned_ids: Iterable[int] = (),
    avoid: Sequence[Sequence[int]] = (),
    block: Optional[Callable[[list[int]], Sequence[int]]] = None,
) -> Iterator[Step]:
    """The decoding loop of `generate_steps` (called only through it, inside inference mode).

    ``avoid``: token id sequences (the bot's previous replies) whose n-grams are blocked when
    ``options.avoid_previous_reply`` is set (so "another one" does not get the same joke again).
    ``block(tokens)``: extra ids that may not follow ``tokens`` (the responder uses it so a reply never
    merely echoes the prompt).
    """
    options = options or DecodingOptions()
    avoid = [list(a) for a in avoid if len(a)] if options.avoid_previous_reply else []
    src, lengths = _as_source(model, src_ids)
    banned = torch.tensor(sorted(set(int(i) for i in banned_ids) - {EOS_ID}), dtype=torch.long)
    was_training = model.training
    model.eval()
    try:
        memory, state = model.encode(src, lengths)
        if options.strategy == "beam" and options.beam_size > 1:
            yield from _beam(model, memory, state, options, banned, avoid, block)
            return
        generator = None
        if options.strategy == "sample" and options.seed is not None:
            generator = torch.Generator().manual_seed(options.seed)
        device = src.device
        token = torch.tensor([BOS_ID], device=device)
        tokens: list[int] = []
        for t in range(options.max_length):
            logits, state = model.step(token, state, memory)  # (1,V)
            raw = logits[0].float().cpu()
            scores = _adjust(raw, tokens, t, options, banned, avoid)
            if block is not None:
                _block(scores, block(tokens))
            if options.strategy == "sample":
                choice = _sample(scores, options, generator)
            else:
                choice = int(torch.argmax(scores).item())
            logprob = float(torch.log_softmax(raw, dim=-1)[choice])
            yield Step(choice, logprob)
            if choice == EOS_ID:
                return
            tokens.append(choice)
            token = torch.tensor([choice], device=device)
    finally:
        model.train(was_training)


def _length_norm(length: int, alpha: float) -> float:
    return ((5.0 + length) / 6.0) ** alpha


def _block(scores: Tensor, ids: Sequence[int]) -> None:
    if len(ids):
        scores[torch.as_tensor(list(ids), dtype=torch.long)] = float("-inf")


def _beam(model: Seq2Seq, memory, state, options: DecodingOptions, banned: Tensor, avoid=(),
          block=None) -> Iterator[Step]:
    K = options.beam_size
    device = memory.keys.device
    # each hypothesis: (tokens, raw logprobs, penalised score sum)
    beams: list[tuple[list[int], list[float], float]] = [([], [], 0.0)]
    finished: list[tuple[float, list[int], list[float], bool]] = []  # (normalised score, tokens, logprobs, ended)
    for t in range(options.max_length):
        last = torch.tensor([b[0][-1] if b[0] else BOS_ID for b in beams], device=device)
        if t == 0:
            mem, st = memory, state
        logits, st = model.step(last, st, mem)  # (k,V)
        logits = logits.float().cpu()
        raw = torch.log_softmax(logits, dim=-1)  # (k,V)
        cands = []
        for bi, (toks, lps, score) in enumerate(beams):
            scores = _adjust(logits[bi], toks, t, options, banned, avoid)
            if block is not None:
                _block(scores, block(toks))
            top = torch.topk(scores, min(2 * K, scores.numel()))
            for s, tok in zip(top.values.tolist(), top.indices.tolist()):
                if s == float("-inf"):
                    continue
                cands.append((score + s, bi, tok))
        cands.sort(key=lambda c: -c[0])
        new_beams, keep = [], []
        for total, bi, tok in cands:
            toks, lps, _ = beams[bi]
            lp = float(raw[bi, tok])
            if tok == EOS_ID:
                finished.append((total / _length_norm(len(toks) + 1, options.length_penalty), toks, lps + [lp], True))
            else:
                new_beams.append((toks + [tok], lps + [lp], total))
                keep.append(bi)
            if len(new_beams) == K:
                break
        if len(finished) >= K or not new_beams:
            break
        # stop when no open beam can beat the best finished one (scores only decrease)
        if finished:
            best_done = max(f[0] for f in finished)
            best_open = max(b[2] for b in new_beams) / _length_norm(options.max_length + 1, options.length_penalty)
            if best_open < best_done:
                break
        beams = new_beams
        index = torch.tensor(keep, device=device)
        st = reorder_state(st, index)
        mem = memory.index_select(torch.zeros(len(keep), dtype=torch.long, device=device))
    for toks, lps, score in beams:
        if len(toks) >= options.max_length:
            finished.append((score / _length_norm(len(toks), options.length_penalty), toks, lps, False))
    if not finished:  # every beam still open after a break without candidates: take the best open one
        toks, lps, score = max(beams, key=lambda b: b[2])
        finished.append((score, toks, lps, False))
    _, toks, lps, ended = max(finished, key=lambda f: f[0])
    for tok, lp in zip(toks, lps):
        yield Step(tok, lp)
    if ended:
        yield Step(EOS_ID, lps[-1])


def generate(model: Seq2Seq, src_ids, options: Optional[DecodingOptions] = None, banned_ids: Iterable[int] = ()) -> Iterator[int]:
    """Yield reply token ids one at a time (the end token is not yielded)."""
    for step in generate_steps(model, src_ids, options, banned_ids):
        if step.token == EOS_ID:
            return
        yield step.token
