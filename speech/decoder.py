"""CTC decoding of (T, V) natural-log posterior matrices: greedy, prefix beam search, phrase lists.

`PhraseDecoder` (command mode) picks one of a closed list of phrases by exact CTC
probability, or nothing when the unconstrained best path beats every phrase by more
than a margin; see its docstring. All decoders run incrementally: `stream()` returns a `DecoderStream` whose
`advance(chunk)` consumes frames, `partial()` gives the text so far with the length
of its prefix that can no longer change, and `finalize()` returns the hypotheses.
`decode(log_probs)` is exactly `stream()` + one `advance` + `finalize`, and every
frame is processed on its own, so any chunking gives the same result.

Output text is normalised as it is built: no leading space, no double spaces, no
trailing space (a space only ends a non-empty word; other spaces are absorbed).

Timestamps and confidences
--------------------------
Every emitted character keeps the output frame where it was emitted (for beam
search: the frame of the extension that dominated the prefix's probability), the
last frame of its run (the following frames where that character beats blank) and
its posterior at the emission frame.
`WordSpan.start_frame` is the emission frame of the word's first character and
`WordSpan.end_frame` the last frame (inclusive) of its last character; the
recognizer turns frames into seconds. A word's confidence is the mean posterior of
its characters. A hypothesis' confidence is the mean posterior of all its emitted
characters (spaces included); beam search multiplies it by the hypothesis' share of
the final beam's probability (softmax of the final scores), so close alternatives
lower it. With nothing emitted the confidence is the mean blank posterior (how sure
the model is that nothing was said); with no frames at all it is 0.

Beam search scoring (natural log)
---------------------------------
score = log P_ctc(prefix) + lm_weight * LM + word_bonus * words + hot-word boost.

* LM: each word is scored when it is completed (by a space, or at the end where
  `</s>` is scored too): ln(10) * `lm.score(word, context)`. Words outside the LM
  vocabulary score as `<unk>` plus `unk_penalty`. A partial word that is no prefix
  of any LM word is already charged that out-of-vocabulary score (it can only end as
  an OOV word), which prunes non-words early; its charge is replaced by the same
  value when the word completes, so scores never jump. Words of the hot words are
  exempt from `unk_penalty`. `word_bonus` applies only with an LM (it balances the
  LM's per-word cost). LM scores are cached per (context, word).
* Hot words (one or more words each): a prefix gets partial credit while it is on
  the way to a hot word: after matching d characters of a hot word of length L
  (counting its inner spaces) from a word start, boost * d / L. The credit is gone
  as soon as the next character leaves the hot word's path (including a letter after
  the last character, as in "cats" for "cat"), and a partial match still open at the
  end is dropped. A hot word completed by a space (or by the end) keeps the full
  `hotword_boost` for the rest of the hypothesis.
* Pruning: per frame only tokens with posterior >= `prune_threshold`, at most
  `max_candidates` of them (numpy top-k over the whole chunk), extend prefixes;
  frames whose blank posterior exceeds `blank_skip` only carry the beam forward
  (blank and repeat transitions, no new prefixes); an extension whose score would
  fall more than `beam_threshold` below the best prefix is not made; the beam
  keeps at most `beam_size` prefixes, all within `beam_threshold` of the best.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = ["Hypothesis", "WordSpan", "GreedyDecoder", "BeamSearchDecoder", "PhraseDecoder", "DecoderStream"]

log = logging.getLogger(__name__)

BLANK = 0  # index of the CTC blank (speech.vocab.BLANK)
NEG_INF = float("-inf")
LN10 = math.log(10.0)
_CACHE_LIMIT = 200_000  # entries per LM cache before it is cleared


@dataclass
class WordSpan:
    word: str
    start_frame: int  # output frame where the word's first character was emitted
    end_frame: int  # last output frame (inclusive) of the word's last character
    confidence: float  # 0..1, mean posterior of the word's characters


@dataclass
class Hypothesis:
    text: str
    score: float  # natural-log decision score (CTC log probability, plus LM, bonuses and boosts for beam search)
    confidence: float  # 0..1, see the module docstring
    tokens: list[int] = field(default_factory=list)  # emitted symbol ids (collapsed, no blanks), text == decode(tokens)
    words: list[WordSpan] = field(default_factory=list)


# ---------------------------------------------------------------------------- helpers


def _symbols(alphabet) -> list[str]:
    symbols = list(getattr(alphabet, "symbols", alphabet))
    if len(symbols) < 2:
        raise ValueError(f"an alphabet needs the blank and at least one symbol, got {symbols!r}")
    return symbols


def _check_log_probs(log_probs, vocab_size: int) -> np.ndarray:
    """(T, V) natural-log posteriors as float64; ValueError naming what is wrong."""
    if hasattr(log_probs, "detach"):  # a torch tensor: no torch import needed here
        log_probs = log_probs.detach().cpu().numpy()
    lp = np.asarray(log_probs, dtype=np.float64)
    if lp.ndim != 2:
        raise ValueError(f"log_probs must be a 2-D (frames, {vocab_size}) matrix, got shape {lp.shape}")
    if lp.shape[1] != vocab_size:
        raise ValueError(f"log_probs has {lp.shape[1]} columns but the alphabet has {vocab_size} symbols")
    if lp.size and np.isnan(lp).any():
        raise ValueError("log_probs contains NaN")
    return lp


def _clean_phrases(phrases, symbols, name: str, item: str, max_chars: int | None = None) -> tuple[str, ...]:
    """Phrases as lowercase single-spaced text in the alphabet, deduplicated; ValueError naming a bad one."""
    if isinstance(phrases, str):
        raise ValueError(f"{name} must be a list of phrases, not one string")
    cleaned = []
    for phrase in phrases:
        if not isinstance(phrase, str):
            raise ValueError(f"{item} {phrase!r} is not a string")
        norm = " ".join(phrase.lower().split())
        if not norm:
            raise ValueError(f"{item} {phrase!r} is empty")
        if max_chars is not None and len(norm) > max_chars:
            raise ValueError(f"{item} {phrase[:40]!r}... is longer than {max_chars} characters")
        bad = sorted({ch for ch in norm if ch not in symbols[1:]})
        if bad:
            raise ValueError(f"{item} {phrase!r} has characters outside the alphabet: {bad!r}")
        cleaned.append(norm)
    return tuple(dict.fromkeys(cleaned))


def _lse(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def _word_spans(tokens, starts, ends, confs, symbols, space) -> list[WordSpan]:
    spans: list[WordSpan] = []
    chars: list[str] = []
    first = last = 0
    cs: list[float] = []
    for tok, s, e, c in zip(tokens, starts, ends, confs):
        if tok == space:
            if chars:
                spans.append(WordSpan("".join(chars), first, last, sum(cs) / len(cs)))
                chars, cs = [], []
            continue
        if not chars:
            first, last = s, e
        else:
            first, last = min(first, s), max(last, e)
        chars.append(symbols[tok])
        cs.append(c)
    if chars:
        spans.append(WordSpan("".join(chars), first, last, sum(cs) / len(cs)))
    return spans


def _strip_trailing_space(tokens: list, space, *lists: list) -> None:
    while tokens and tokens[-1] == space:
        tokens.pop()
        for other in lists:
            other.pop()


class DecoderStream:
    """Incremental decoding of one utterance (base class; see the decoders' `stream()`)."""

    def advance(self, log_probs) -> None:  # (t, V) natural-log posteriors
        raise NotImplementedError

    def partial(self) -> tuple[str, int]:
        """(best text so far, number of its leading characters that will not change)."""
        raise NotImplementedError

    def finalize(self) -> list[Hypothesis]:
        """Hypotheses for everything advanced so far, best first (does not end the stream)."""
        raise NotImplementedError

    @property
    def frames(self) -> int:
        """Output frames consumed so far."""
        return self._t  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- greedy


class GreedyDecoder:
    """Best path: argmax per frame, collapse repeats, drop blanks."""

    def __init__(self, alphabet):
        self.alphabet = alphabet
        self.symbols = _symbols(alphabet)
        self.space = self.symbols.index(" ") if " " in self.symbols else None

    def decode(self, log_probs) -> list[Hypothesis]:
        stream = self.stream()
        stream.advance(log_probs)
        return stream.finalize()

    def stream(self, hotwords: Sequence[str] | None = None) -> "GreedyStream":
        if hotwords:
            raise ValueError("greedy decoding cannot boost hot words; use BeamSearchDecoder(hotwords=...)")
        return GreedyStream(self)


class GreedyStream(DecoderStream):
    def __init__(self, decoder: GreedyDecoder):
        self._symbols = decoder.symbols
        self._space = decoder.space
        self._t = 0
        self._prev = BLANK  # argmax of the previous frame (carried across chunks so repeats collapse)
        self._open = False  # whether the previous frame's run emitted a token (its end can grow)
        self._score = 0.0
        self._max_sum = 0.0  # sum of the per-frame max posteriors (confidence when nothing is emitted)
        self.tokens: list[int] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.confs: list[float] = []

    def advance(self, log_probs) -> None:
        lp = _check_log_probs(log_probs, len(self._symbols))
        if lp.shape[0] == 0:
            return
        best = lp.argmax(axis=1)  # (t,)
        best_lp = lp[np.arange(lp.shape[0]), best]  # (t,)
        space, prev, is_open, t = self._space, self._prev, self._open, self._t
        tokens = self.tokens
        for tok, v in zip(best.tolist(), best_lp.tolist()):
            self._score += v
            self._max_sum += math.exp(v)
            if tok == prev:
                if is_open:
                    self.ends[-1] = t
            elif tok == BLANK:
                is_open = False
            elif tok == space and (not tokens or tokens[-1] == space):
                is_open = False  # leading or double space: absorbed
            else:
                tokens.append(tok)
                self.starts.append(t)
                self.ends.append(t)
                self.confs.append(math.exp(v))
                is_open = True
            prev = tok
            t += 1
        self._prev, self._open, self._t = prev, is_open, t

    def _text(self) -> str:
        return "".join(self._symbols[i] for i in self.tokens).rstrip(" ")

    def partial(self) -> tuple[str, int]:
        text = self._text()
        return text, len(text)

    def finalize(self) -> list[Hypothesis]:
        tokens, starts, ends, confs = list(self.tokens), list(self.starts), list(self.ends), list(self.confs)
        _strip_trailing_space(tokens, self._space, starts, ends, confs)
        if confs:
            confidence = sum(confs) / len(confs)
        else:
            confidence = self._max_sum / self._t if self._t else 0.0
        words = _word_spans(tokens, starts, ends, confs, self._symbols, self._space)
        text = "".join(self._symbols[i] for i in tokens)
        return [Hypothesis(text, self._score, float(min(max(confidence, 0.0), 1.0)), tokens, words)]


# ---------------------------------------------------------------------------- beam search


class _HotNode:
    """A node of the character trie of the hot words."""

    __slots__ = ("children", "terminal", "credit")

    def __init__(self):
        self.children: dict[int, _HotNode] = {}
        self.terminal = False
        self.credit = 0.0  # partial credit for a prefix that has matched up to here


def _hot_trie(phrases: Sequence[Sequence[int]], boost: float) -> _HotNode:
    root = _HotNode()
    for ids in phrases:
        node, path = root, []
        for tok in ids:
            node = node.children.setdefault(tok, _HotNode())
            path.append(node)
        node.terminal = True
        for depth, n in enumerate(path, 1):
            n.credit = max(n.credit, boost * depth / len(ids))
    return root


class _Node:
    """One prefix of the beam (a node of the prefix tree). Fields are fixed at creation except the timing."""

    __slots__ = (
        "parent", "token", "depth", "children", "made", "frame", "end", "conf",
        "ctx", "word", "n_words", "lm", "partial_lm", "hot_done", "hot_active", "extra",
    )

    def __init__(self, parent, token):
        self.parent = parent
        self.token = token  # symbol id, None for the root
        self.depth = parent.depth + 1 if parent is not None else 0  # == len(text of the prefix)
        self.children: dict[int, _Node] = {}
        self.made: dict[int, tuple] | None = None  # token -> scoring fields of a child made before (see _fields)
        self.frame = 0  # emission frame of `token`
        self.end = 0  # last frame of `token`'s run
        self.conf = 0.0  # posterior of `token` at `frame`

    def path(self) -> list["_Node"]:
        nodes = []
        node = self
        while node.token is not None:
            nodes.append(node)
            node = node.parent
        nodes.reverse()
        return nodes


def _ancestor(node: _Node, depth: int) -> _Node:
    while node.depth > depth:
        node = node.parent
    return node


class BeamSearchDecoder:
    """CTC prefix beam search with an optional word n-gram LM, hot words and n-best output.

    beam_size: prefixes kept per frame.
    lm: an `NGramLM` (or anything with `score(word, context)`, `order`, `prefix_in_vocab`, `in`).
    lm_weight: weight of the natural-log LM score. word_bonus: added per word (only with an LM).
    hotwords: phrases to favour (normalised text; multi-word allowed). hotword_boost: their full bonus.
    n_best: hypotheses returned. prune_threshold: minimal token posterior to extend a prefix.
    max_candidates: at most this many tokens per frame extend prefixes.
    blank_skip: frames with P(blank) above it only carry the beam (None or 1.0: never).
    unk_penalty: added (natural log, before lm_weight) to words outside the LM vocabulary.
    beam_threshold: prefixes (and extensions) scoring more than this below the best are dropped.
    """

    def __init__(
        self,
        alphabet,
        beam_size: int = 8,
        lm=None,
        lm_weight: float = 0.5,
        word_bonus: float = 1.0,
        hotwords: Sequence[str] = (),
        hotword_boost: float = 4.0,
        n_best: int = 3,
        prune_threshold: float = 1e-3,
        max_candidates: int = 8,
        blank_skip: float | None = 0.999,
        unk_penalty: float = -5.0,
        beam_threshold: float = 10.0,
    ):
        self.alphabet = alphabet
        self.symbols = _symbols(alphabet)
        self.space = self.symbols.index(" ") if " " in self.symbols else None
        _check_int("beam_size", beam_size, 1)
        _check_int("n_best", n_best, 1)
        _check_int("max_candidates", max_candidates, 1)
        for name, value in (("lm_weight", lm_weight), ("word_bonus", word_bonus), ("hotword_boost", hotword_boost),
                            ("unk_penalty", unk_penalty), ("beam_threshold", beam_threshold)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if lm_weight < 0:
            raise ValueError(f"lm_weight must be >= 0, got {lm_weight!r}")
        if hotword_boost < 0:
            raise ValueError(f"hotword_boost must be >= 0, got {hotword_boost!r}")
        if beam_threshold <= 0:
            raise ValueError(f"beam_threshold must be > 0, got {beam_threshold!r}")
        if not isinstance(prune_threshold, (int, float)) or not 0.0 <= prune_threshold < 1.0:
            raise ValueError(f"prune_threshold must be in [0, 1), got {prune_threshold!r}")
        if blank_skip is not None and (not isinstance(blank_skip, (int, float)) or not 0.0 < blank_skip <= 1.0):
            raise ValueError(f"blank_skip must be None or in (0, 1], got {blank_skip!r}")
        if lm is not None and not hasattr(lm, "score"):
            raise ValueError(f"lm must be an NGramLM (with score(word, context)), got {type(lm).__name__}")
        self.beam_size = beam_size
        self.lm = lm
        self.lm_weight = float(lm_weight)
        self.word_bonus = float(word_bonus) if lm is not None else 0.0
        self.hotword_boost = float(hotword_boost)
        self.hotwords = self._check_hotwords(hotwords)
        self.n_best = n_best
        self.prune_threshold = float(prune_threshold)
        self.max_candidates = min(max_candidates, len(self.symbols) - 1)
        self.blank_skip = blank_skip
        self.unk_penalty = float(unk_penalty)
        self.beam_threshold = float(beam_threshold)
        self._log_prune = math.log(prune_threshold) if prune_threshold > 0 else NEG_INF
        self._log_skip = math.log(blank_skip) if blank_skip is not None and blank_skip < 1.0 else None
        self._ctx_len = max(getattr(lm, "order", 1) - 1, 0) if lm is not None else 0
        self._word_cache: dict = {}  # (context, word, exempt) -> natural-log LM score of a completed word
        self._prefix_cache: dict = {}  # partial word -> is a prefix of some LM word
        self._eos_cache: dict = {}  # context -> natural-log LM score of </s>

    def _check_hotwords(self, hotwords) -> tuple[str, ...]:
        if hotwords is None:
            return ()
        return _clean_phrases(hotwords, self.symbols, "hotwords", "hot word")

    def decode(self, log_probs) -> list[Hypothesis]:
        """Hypotheses for a whole (T, V) matrix, best first (at most n_best, distinct texts)."""
        stream = self.stream()
        stream.advance(log_probs)
        return stream.finalize()

    def stream(self, hotwords: Sequence[str] | None = None) -> "BeamSearchStream":
        """An incremental search; `hotwords` replaces the decoder's hot words for this stream."""
        return BeamSearchStream(self, self.hotwords if hotwords is None else self._check_hotwords(hotwords))

    # LM scores in natural log, cached (the beam revisits the same words and contexts constantly).

    def _word_score(self, ctx: tuple, word: str, exempt: bool) -> float:
        known = word in self.lm
        key = (ctx, word if known else None, exempt and not known)  # every OOV word scores as <unk>
        value = self._word_cache.get(key)
        if value is None:
            value = self.lm.score(word, ctx) * LN10
            if not known and not exempt:
                value += self.unk_penalty
            if len(self._word_cache) >= _CACHE_LIMIT:
                self._word_cache.clear()
            self._word_cache[key] = value
        return value

    def _eos_score(self, ctx: tuple) -> float:
        value = self._eos_cache.get(ctx)
        if value is None:
            value = self.lm.score("</s>", ctx) * LN10
            if len(self._eos_cache) >= _CACHE_LIMIT:
                self._eos_cache.clear()
            self._eos_cache[ctx] = value
        return value

    def _is_prefix(self, word: str) -> bool:
        value = self._prefix_cache.get(word)
        if value is None:
            finder = getattr(self.lm, "prefix_in_vocab", None)
            value = True if finder is None else bool(finder(word))
            if len(self._prefix_cache) >= _CACHE_LIMIT:
                self._prefix_cache.clear()
            self._prefix_cache[word] = value
        return value


def _check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


class BeamSearchStream(DecoderStream):
    """The state of one incremental prefix beam search (see `BeamSearchDecoder.stream`)."""

    cut_new_prefixes = True  # skip new prefixes that provably cannot enter the beam (see _step); exact

    def __init__(self, decoder: BeamSearchDecoder, hotwords: tuple[str, ...]):
        self.decoder = d = decoder
        self.hotwords = hotwords
        self._symbols = d.symbols
        self._space = d.space
        self._t = 0
        self._blank_sum = 0.0  # sum of per-frame blank posteriors (confidence of an empty result)
        index = {s: i for i, s in enumerate(d.symbols) if i != BLANK}
        self._hot_words = {w for phrase in hotwords for w in phrase.split()}
        self._hot_root = _hot_trie([[index[ch] for ch in p] for p in hotwords], d.hotword_boost) if hotwords else None
        root = _Node(None, None)
        root.ctx = ("<s>",)[: d._ctx_len] if d._ctx_len else ()
        root.word = ""
        root.n_words = 0
        root.lm = 0.0
        root.partial_lm = 0.0
        root.hot_done = 0.0
        root.hot_active = (self._hot_root,) if self._hot_root is not None else ()
        root.extra = 0.0
        self._root = root
        self._beam: list[tuple[_Node, float, float]] = [(root, 0.0, NEG_INF)]  # (prefix, log P blank-ending, non-blank)

    # -------------------------------------------------------------- prefix tree

    def _fields(self, node: _Node, tok: int) -> tuple:
        """Compute and cache on `node` (`node.made[tok]`, which _step reads first) the scoring fields
        of `node` extended by `tok`: (word, n_words, lm, ctx, partial_lm, hot_done, hot_active, extra).

        They depend only on the parent and the token, so an extension is scored without making its node;
        most extensions never make the beam, and making a node for each was half the search's time. The
        cache lives as long as the parent stays in the beam (see _step), so a prefix that fell out and is
        extended again is not scored anew.
        """
        made = node.made
        if made is None:
            made = node.made = {}
        d = self.decoder
        hot_done = node.hot_done
        if tok == self._space:  # completes node.word (never empty: spaces after nothing are absorbed)
            word, partial_lm, n_words = "", 0.0, node.n_words + 1
            if d.lm is not None:
                lm = node.lm + d._word_score(node.ctx, node.word, node.word in self._hot_words)
                ctx = (node.ctx + (node.word,))[-d._ctx_len :] if d._ctx_len else ()
            else:
                lm, ctx = 0.0, ()
            active = []
            for h in node.hot_active:
                if h.terminal:
                    hot_done += d.hotword_boost
                nxt = h.children.get(tok)  # multi-word hot words continue through the space
                if nxt is not None:
                    active.append(nxt)
            if self._hot_root is not None:
                active.append(self._hot_root)
        else:
            word, n_words, lm, ctx, partial_lm = node.word + self._symbols[tok], node.n_words, node.lm, node.ctx, 0.0
            active = [h.children[tok] for h in node.hot_active if tok in h.children] if node.hot_active else ()
            if d.lm is not None and not d._is_prefix(word):
                # Only an OOV word can come out of this prefix: charge its final score now (without the
                # penalty while it is on the way to a hot word, whose words are exempt).
                partial_lm = d._word_score(node.ctx, word, bool(active))
        credit = max(h.credit for h in active) if active else 0.0
        extra = d.lm_weight * (lm + partial_lm) + d.word_bonus * n_words + hot_done + credit
        fields = made[tok] = (word, n_words, lm, ctx, partial_lm, hot_done, tuple(active), extra)
        return fields

    @staticmethod
    def _make(node: _Node, tok: int, fields: tuple) -> _Node:
        """The node for `node` + `tok`, with its scoring fields, linked into the tree."""
        child = node.children[tok] = _Node(node, tok)
        (child.word, child.n_words, child.lm, child.ctx, child.partial_lm, child.hot_done, child.hot_active,
         child.extra) = fields
        return child

    # -------------------------------------------------------------- search

    def advance(self, log_probs) -> None:
        d = self.decoder
        lp = _check_log_probs(log_probs, len(self._symbols))
        n = lp.shape[0]
        if n == 0:
            return
        # Candidate tokens per frame, vectorised over the chunk: top-k non-blank tokens above the threshold.
        k = d.max_candidates
        non_blank = lp[:, 1:]  # (t, V-1)
        if k < non_blank.shape[1]:
            top = np.argpartition(-non_blank, k - 1, axis=1)[:, :k]  # (t, k)
        else:
            top = np.broadcast_to(np.arange(non_blank.shape[1]), non_blank.shape)  # (t, V-1)
        top_lp = np.take_along_axis(non_blank, top, axis=1)  # (t, k)
        keep = top_lp >= d._log_prune  # (t, k)
        if d._log_skip is not None:
            skip = (lp[:, BLANK] > d._log_skip).tolist()
        else:
            skip = [False] * n
        rows = lp.tolist()
        top_l, keep_l = (top + 1).tolist(), keep.tolist()
        for i in range(n):
            row = rows[i]
            self._blank_sum += math.exp(row[BLANK])
            if skip[i]:
                self._carry(row)
            else:
                cands = sorted(tok for tok, ok in zip(top_l[i], keep_l[i]) if ok)
                self._step(row, cands)
            self._t += 1

    def _carry(self, row: list[float]) -> None:
        """A frame that is almost surely blank: only blank and repeat transitions."""
        blank = row[BLANK]
        t = self._t
        out = []
        for node, pb, pnb in self._beam:
            total = _lse(pb, pnb)
            tok = node.token
            if tok is not None and pnb != NEG_INF:
                stay = row[tok]
                pnb = pnb + stay
                if stay > blank:
                    node.end = t
            else:
                pnb = NEG_INF
            out.append((node, total + blank, pnb))
        out.sort(key=lambda e: -(_lse(e[1], e[2]) + e[0].extra))
        self._beam = out

    def _step(self, row: list[float], cands: list[int]) -> None:
        blank = row[BLANK]
        t = self._t
        space = self._space
        # prefix -> [log P blank-ending, log P non-blank-ending, mass carried without a new emission at t,
        #            best extension into it at t, that token's log posterior, its score bonus (extra),
        #            its scoring fields if its node is not made yet]
        # A prefix new at t is keyed by (parent, token): its node is made only if it enters the beam.
        nxt: dict = {}
        fields_of = self._fields
        d = self.decoder
        node0, pb0, pnb0 = self._beam[0]
        floor = _lse(pb0, pnb0) + node0.extra + max(row) - d.beam_threshold  # extensions below: skipped
        # An exact cut for new prefixes. Each prefix in the beam scores at least its blank-carried mass at t,
        # so beam_size of them score at least `entry_cut`. A new prefix gets a single contribution, and its
        # bonus (extra) is at most its parent's LM score, word bonuses and hot-word credit so far plus one
        # more word (LM log probabilities are <= 0), so below the cut it cannot enter the beam and is not
        # scored. Hot words can raise a bonus by more, so they turn the cut off.
        if self.cut_new_prefixes and len(self._beam) >= d.beam_size and not self._hot_words:
            entry_cut = sorted([_lse(pb, pnb) + blank + node.extra for node, pb, pnb in self._beam])[-d.beam_size]
            one_more_word = d.lm_weight * max(d.unk_penalty, 0.0) + max(d.word_bonus, 0.0)
        else:
            entry_cut, one_more_word = NEG_INF, 0.0
        for node, pb, pnb in self._beam:
            total = _lse(pb, pnb)
            floor_here = floor - node.extra
            bonus_bound = d.lm_weight * node.lm + d.word_bonus * node.n_words + node.hot_done + one_more_word
            new_floor = entry_cut - bonus_bound
            e = nxt.get(node)
            if e is None:
                e = nxt[node] = [NEG_INF, NEG_INF, NEG_INF, NEG_INF, 0.0, node.extra, None]
            e[0] = _lse(e[0], total + blank)
            carried = total + blank
            last = node.token
            if last is not None and pnb != NEG_INF:
                stay = pnb + row[last]
                e[1] = _lse(e[1], stay)
                carried = _lse(carried, stay)
                if row[last] > blank:
                    node.end = t
            children, made = node.children, node.made or {}
            absorb = not node.word  # a space here adds nothing
            for tok in cands:
                v = row[tok]
                if tok == space and absorb:
                    # A space after nothing or after a space: absorbed into the same prefix.
                    if last is None:
                        e[0] = _lse(e[0], total + v)
                        carried = _lse(carried, total + v)
                    elif pb != NEG_INF:
                        e[1] = _lse(e[1], pb + v)
                        carried = _lse(carried, pb + v)
                    continue
                contrib = (pb if tok == last else total) + v
                if contrib < floor_here or contrib == NEG_INF:
                    continue
                child = children.get(tok)
                if child is None:  # each beam prefix is visited once, so (node, tok) is new here
                    if contrib < new_floor:
                        continue
                    fields = made.get(tok) or fields_of(node, tok)
                    nxt[(node, tok)] = [NEG_INF, contrib, NEG_INF, contrib, v, fields[7], fields]
                    continue
                c = nxt.get(child)
                if c is None:
                    nxt[child] = [NEG_INF, contrib, NEG_INF, contrib, v, child.extra, None]
                    continue
                c[1] = _lse(c[1], contrib)
                if contrib > c[3]:
                    c[3], c[4] = contrib, v
            e[2] = carried
        scored = []
        for key, e in nxt.items():
            if e[6] is None and e[3] > e[2]:  # this frame's emission dominates the prefix: it is where its last
                key.frame = key.end = t       # token is (also for one that leaves the beam but stays an ancestor)
                key.conf = math.exp(e[4])
            scored.append((_lse(e[0], e[1]) + e[5], key, e))
        scored.sort(key=lambda s: -s[0])
        del scored[d.beam_size :]
        cut = scored[0][0] - d.beam_threshold
        while len(scored) > 1 and (scored[-1][0] < cut or scored[-1][0] == NEG_INF):
            scored.pop()
        beam = []
        for _, key, e in scored:
            if e[6] is not None:  # a new prefix that made the beam: make its node
                key = self._make(key[0], key[1], e[6])
                key.frame = key.end = t
                key.conf = math.exp(e[4])
            beam.append((key, e[0], e[1]))
        # Only prefixes in the beam are ever extended. Forget the children that fell out of it (a later
        # extension re-creates them) and those of prefixes that left it, so the tree holds little more than
        # the beam and its ancestors and memory stays flat however long the stream runs.
        alive = {node for node, _, _ in beam}
        for node, _, _ in self._beam:
            if node not in alive:
                node.children = {}
                node.made = None
        for node in alive:
            if node.children:
                node.children = {tok: c for tok, c in node.children.items() if c in alive}
        self._beam = beam

    # -------------------------------------------------------------- results

    def _text(self, node: _Node) -> str:
        return "".join(self._symbols[n.token] for n in node.path())

    def partial(self) -> tuple[str, int]:
        best = self._text(self._beam[0][0]).rstrip(" ")
        # The stable length is the longest text every prefix in the beam starts with. Walk the beam's nodes up
        # level by level from the shallowest depth among them, noting the levels where their symbols differ,
        # until they meet in one node (above it all paths agree). A prefix can appear twice in the tree (a node
        # that left the beam is re-created if extended again), hence symbols are compared and not nodes.
        # This costs the depth where the beam diverges; comparing whole texts cost their length every call.
        nodes = {node for node, _, _ in self._beam}
        depth = min(node.depth for node in nodes)
        nodes = {_ancestor(node, depth) for node in nodes}
        stable = depth
        while len(nodes) > 1:
            if len({node.token for node in nodes}) > 1:
                stable = depth - 1
            nodes = {node.parent for node in nodes}
            depth -= 1
        return best, min(stable, len(best))

    def _final_score(self, node: _Node) -> float:
        """The score with the end of the utterance applied: last word and </s> scored, open hot-word matches settled."""
        d = self.decoder
        hot = node.hot_done + (d.hotword_boost if any(h.terminal for h in node.hot_active) else 0.0)
        n_words = node.n_words
        lm = 0.0
        if d.lm is not None:
            lm, ctx = node.lm, node.ctx
            if node.word:
                lm += d._word_score(ctx, node.word, node.word in self._hot_words)
                ctx = (ctx + (node.word,))[-d._ctx_len :] if d._ctx_len else ()
            lm += d._eos_score(ctx)
        if node.word:
            n_words += 1
        return d.lm_weight * lm + d.word_bonus * n_words + hot

    def finalize(self) -> list[Hypothesis]:
        d = self.decoder
        ranked: dict[str, list] = {}  # text -> [total score, best single score, node]
        for node, pb, pnb in self._beam:
            score = _lse(pb, pnb) + self._final_score(node)
            text = self._text(node).rstrip(" ")
            entry = ranked.get(text)
            if entry is None:
                ranked[text] = [score, score, node]
            else:  # "word" and "word " are one hypothesis
                entry[0] = _lse(entry[0], score)
                if score > entry[1]:
                    entry[1], entry[2] = score, node
        order = sorted(ranked.items(), key=lambda item: -item[1][0])
        norm = NEG_INF
        for _, (score, _, _) in order:
            norm = _lse(norm, score)
        hyps = []
        for text, (score, _, node) in order[: d.n_best]:
            nodes = node.path()
            tokens = [n.token for n in nodes]
            starts = [n.frame for n in nodes]
            ends = [n.end for n in nodes]
            confs = [n.conf for n in nodes]
            _strip_trailing_space(tokens, self._space, starts, ends, confs)
            if confs:
                acoustic = sum(confs) / len(confs)
            else:
                acoustic = self._blank_sum / self._t if self._t else 0.0
            share = math.exp(score - norm) if norm != NEG_INF else 0.0
            confidence = min(max(acoustic * share, 0.0), 1.0)
            words = _word_spans(tokens, starts, ends, confs, self._symbols, self._space)
            hyps.append(Hypothesis(text, score, confidence, tokens, words))
        return hyps


# ---------------------------------------------------------------------------- phrase lists (command mode)


def read_phrases(path) -> list[str]:
    """The phrases of a text file: one per line, `#` starts a comment, blank lines skipped (not normalised)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.split("#", 1)[0].strip() for line in f]
    return [line for line in lines if line]


MAX_PHRASES = 2000  # phrases per decoder: the forward pass costs phrases x characters per frame
MAX_PHRASE_CHARS = 200


class PhraseDecoder:
    """Closed-vocabulary decoding: the result is one of `phrases`, or nothing.

    Every phrase is scored by its exact CTC probability (the forward algorithm over all
    its alignments, vectorised over the phrases and run incrementally, frame by frame).
    The unconstrained best path competes as "something else" with its log probability
    minus `reject_margin`: when no phrase comes within `reject_margin` nats of the best
    free path, the result is empty text (what was said is not in the list), and the
    closest phrases are still returned as alternatives.

    Confidence is the softmax share of a phrase among all phrases and "something else".
    Word spans come from the phrase's best (Viterbi) alignment.
    phrases: normalised text in the decoder's alphabet (multi-word allowed).

    Cost per frame grows with the number of phrases times the longest one. Real-time factors of the
    decoding alone, one thread: 35 words 0.003; 100 phrases of up to 100 characters (the wire limit)
    0.03; 2,000 phrases of up to 30 characters 0.17.
    """

    def __init__(self, alphabet, phrases: Sequence[str], *, reject_margin: float = 4.0, n_best: int = 3):
        self.alphabet = alphabet
        self.symbols = _symbols(alphabet)
        self.space = self.symbols.index(" ") if " " in self.symbols else None
        _check_int("n_best", n_best, 1)
        self.reject_margin = self.check_margin(reject_margin)
        self.n_best = n_best
        self.phrases = self._check_phrases(phrases)
        index = {s: i for i, s in enumerate(self.symbols) if i != BLANK}
        labels = [[index[ch] for ch in p] for p in self.phrases]
        self._labels = labels
        self._state_token, self._can_skip, self._valid = _ctc_states(labels)
        self._last = np.array([2 * len(lab) for lab in labels])  # final blank state; final char is one before
        self._no_skip = ~self._can_skip
        self._invalid = ~self._valid

    @staticmethod
    def check_margin(reject_margin) -> float:
        """The reject margin as a float; ValueError unless it is a finite number."""
        if not isinstance(reject_margin, (int, float)) or isinstance(reject_margin, bool) or not math.isfinite(reject_margin):
            raise ValueError(f"reject_margin must be a finite number, got {reject_margin!r}")
        return float(reject_margin)

    def _check_phrases(self, phrases) -> tuple[str, ...]:
        if phrases is None:
            raise ValueError("phrases must be a list of phrases, not None")
        cleaned = _clean_phrases(phrases, self.symbols, "phrases", "phrase", MAX_PHRASE_CHARS)
        if not cleaned:
            raise ValueError("phrases is empty: give at least one phrase")
        if len(cleaned) > MAX_PHRASES:
            raise ValueError(f"at most {MAX_PHRASES} phrases, got {len(cleaned)}")
        return cleaned

    def decode(self, log_probs) -> list[Hypothesis]:
        stream = self.stream()
        stream.advance(log_probs)
        return stream.finalize()

    def stream(self, hotwords: Sequence[str] | None = None) -> "PhraseStream":
        if hotwords:
            raise ValueError("a phrase list cannot also boost hot words (the result is one of the phrases)")
        return PhraseStream(self)


def _ctc_states(labels: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CTC states of label sequences, padded to the longest: state s of sequence p is blank for even s,
    character (s - 1) // 2 for odd s. Returns (token of each state, s-2 -> s allowed, state exists), (P, S) each."""
    n_states = 2 * max(len(lab) for lab in labels) + 1
    state_token = np.zeros((len(labels), n_states), dtype=np.int64)  # BLANK on even states
    can_skip = np.zeros((len(labels), n_states), dtype=bool)  # no blank needed between different characters
    valid = np.zeros((len(labels), n_states), dtype=bool)
    for p, lab in enumerate(labels):
        for j, tok in enumerate(lab):
            state_token[p, 2 * j + 1] = tok
            can_skip[p, 2 * j + 1] = j > 0 and lab[j - 1] != tok
        valid[p, : 2 * len(lab) + 1] = True
    return state_token, can_skip, valid


def _ctc_step(alpha: np.ndarray, row: np.ndarray, d: PhraseDecoder) -> np.ndarray:
    """One frame of the CTC forward recursion for every phrase at once."""
    one = np.empty_like(alpha)
    one[:, 0] = NEG_INF
    one[:, 1:] = alpha[:, :-1]
    two = np.full_like(alpha, NEG_INF)
    two[:, 2:] = alpha[:, :-2]
    two[d._no_skip] = NEG_INF
    out = np.logaddexp(np.logaddexp(alpha, one), two) + row[d._state_token]
    out[d._invalid] = NEG_INF
    return out


class PhraseStream(DecoderStream):
    """The state of one incremental phrase-list decoding (see `PhraseDecoder.stream`)."""

    def __init__(self, decoder: PhraseDecoder):
        self.decoder = decoder
        self._t = 0
        # a virtual frame before the first: only the leading blank state is open, with probability 1
        self._alpha = np.full(decoder._state_token.shape, NEG_INF)
        self._alpha[:, 0] = 0.0
        self._free = 0.0  # log probability of the unconstrained best path
        self._rows: list[np.ndarray] = []  # the posteriors, for the best phrase's alignment at the end

    def advance(self, log_probs) -> None:
        d = self.decoder
        lp = _check_log_probs(log_probs, len(d.symbols))
        if lp.shape[0] == 0:
            return
        with np.errstate(invalid="ignore"):  # -inf - -inf inside logaddexp is fine: the result is -inf
            for row in lp:
                self._alpha = _ctc_step(self._alpha, row, d)
        self._free += float(lp.max(axis=1).sum())
        self._rows.append(lp)
        self._t += lp.shape[0]

    def _scores(self) -> np.ndarray:
        d, a = self.decoder, self._alpha
        rows = np.arange(a.shape[0])
        return np.logaddexp(a[rows, d._last], a[rows, d._last - 1])  # ended on the last char or after it

    def _ranking(self) -> tuple[np.ndarray, list[int], float]:
        """(phrase scores, the n_best finite ones best first, the score of "something else")."""
        d = self.decoder
        scores = self._scores()
        order = [int(i) for i in np.argsort(-scores, kind="stable")[: d.n_best] if scores[i] > NEG_INF]
        return scores, order, self._free - d.reject_margin

    def partial(self) -> tuple[str, int]:
        """The phrase that would win if the utterance ended now ("" for none); it can change until the end."""
        if self._t == 0:
            return "", 0
        scores, order, other = self._ranking()
        if not order or other > scores[order[0]]:
            return "", 0
        return self.decoder.phrases[order[0]], 0

    def finalize(self) -> list[Hypothesis]:
        d = self.decoder
        if self._t == 0:
            return [Hypothesis("", 0.0, 0.0)]
        scores, order, other = self._ranking()
        norm = float(np.logaddexp(np.logaddexp.reduce(scores), other))
        lp = np.concatenate(self._rows)
        phrase_hyps = [self._hypothesis(lp, i, float(scores[i]), math.exp(scores[i] - norm)) for i in order]
        if not order or other > scores[order[0]]:
            return [Hypothesis("", other, math.exp(other - norm))] + phrase_hyps[: d.n_best - 1]
        return phrase_hyps

    def _hypothesis(self, lp: np.ndarray, p: int, score: float, confidence: float) -> Hypothesis:
        d = self.decoder
        tokens = d._labels[p]
        starts, ends, confs = _best_alignment(lp, tokens)
        words = _word_spans(tokens, starts, ends, confs, d.symbols, d.space)
        return Hypothesis(d.phrases[p], score, float(min(max(confidence, 0.0), 1.0)), list(tokens), words)


def _best_alignment(lp: np.ndarray, tokens: list[int]) -> tuple[list[int], list[int], list[float]]:
    """Viterbi alignment of one label sequence: per token its first frame, last frame and posterior there."""
    state_tokens, skips, _ = _ctc_states([tokens])
    state_token, can_skip = state_tokens[0], skips[0]
    n_states = state_token.size
    T = lp.shape[0]
    back = np.zeros((T, n_states), dtype=np.int8)  # 0: stay, 1: from s-1, 2: from s-2
    alpha = np.full(n_states, NEG_INF)
    alpha[0] = 0.0
    for t in range(T):
        one = np.concatenate(([NEG_INF], alpha[:-1]))
        two = np.where(can_skip, np.concatenate(([NEG_INF, NEG_INF], alpha[:-2])), NEG_INF)
        stacked = np.stack([alpha, one, two])
        back[t] = stacked.argmax(axis=0)
        alpha = stacked.max(axis=0) + lp[t, state_token]
    s = n_states - 1 if alpha[-1] >= alpha[-2] else n_states - 2
    path = np.empty(T, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])
    starts, ends, confs = [], [], []
    for j in range(len(tokens)):
        frames = np.flatnonzero(path == 2 * j + 1)
        if frames.size == 0:  # cannot happen for a finite score; keep spans well-formed anyway
            frames = np.array([starts[-1] if starts else 0])
        starts.append(int(frames[0]))
        ends.append(int(frames[-1]))
        confs.append(float(math.exp(lp[frames[0], tokens[j]])))
    return starts, ends, confs
