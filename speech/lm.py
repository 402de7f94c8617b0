"""Word n-gram language model: built from text, saved and read as ARPA, scored with backoff.

Estimation is interpolated modified Kneser-Ney (Chen & Goodman), as in KenLM's
`lmplz` and SRILM's `-kndiscount -interpolate`:

* the highest order uses raw counts; lower orders use continuation counts (the
  number of distinct words seen to the left), except n-grams that start with
  `<s>`, which keep raw counts because nothing can precede `<s>`;
* three discounts per order (D1, D2, D3+) from the counts-of-counts; tiny corpora
  whose counts-of-counts make them invalid fall back to one absolute discount;
* every order interpolates with the next lower one, the unigrams with the uniform
  distribution over the vocabulary (which is where `<unk>` gets its mass).

Because the model is interpolated, the ARPA backoff weight of a context is exactly
its interpolation weight gamma(h), and the probability written for a seen n-gram is
the full interpolated one, so `score()` with standard ARPA backoff reproduces the
estimate. All scores are log10, as in ARPA files.

Storage is plain dicts keyed by word tuples (one dict of log10 probabilities and
one of log10 backoffs per order). `prefix_in_vocab` searches a sorted word list
(built lazily, binary search), which answers the same question as a character trie
in a fraction of the memory.
"""
from __future__ import annotations

import bisect
import gzip
import io
import logging
import math
import os
from collections import defaultdict
from typing import Iterable, Mapping, Sequence, TextIO

from tqdm import tqdm

__all__ = ["NGramLM", "BOS", "EOS", "UNK"]

log = logging.getLogger(__name__)

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
LOG10_ZERO = -99.0  # ARPA convention for "probability zero" (used for <s>)
_SPECIAL = (BOS, EOS, UNK)


class NGramLM:
    """A backoff word n-gram model (log10 scores).

    `probs[n - 1]` maps n-word tuples to log10 P(w_n | w_1..w_{n-1});
    `backoffs[n - 1]` maps n-word contexts to their log10 backoff weight (absent = 0).
    """

    def __init__(self, probs: list[dict[tuple[str, ...], float]], backoffs: list[dict[tuple[str, ...], float]]):
        if not probs or not probs[0]:
            raise ValueError("a language model needs at least one unigram")
        if len(probs) != len(backoffs):
            raise ValueError(f"{len(probs)} orders of probabilities but {len(backoffs)} of backoffs")
        self.order = len(probs)
        self._probs = probs
        self._backoffs = backoffs
        self._vocab = {key[0] for key in probs[0]}
        if UNK in self._vocab:
            self._unk_key = (UNK,)
        else:
            # A model without <unk> (some external ARPA files): give unknown words a little
            # less than the rarest word instead of the "-99" that would veto any hypothesis.
            self._unk_key = None
            self._unk_log10 = min(p for k, p in probs[0].items() if k[0] != BOS) - 1.0
        self._sorted_words: list[str] | None = None  # for prefix_in_vocab, built on first use

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls, sentences: Iterable[str], order: int = 3, *, progress: bool = False) -> "NGramLM":
        """Estimate an interpolated modified Kneser-Ney model from normalised sentences.

        `sentences` are lowercase, space-separated words (one utterance each; empty
        ones are skipped). `order` is the longest n-gram (1 or more).
        """
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            raise ValueError(f"order must be an integer >= 1, got {order!r}")
        if isinstance(sentences, str):
            raise ValueError("sentences must be an iterable of strings, not one string")

        # counts[n-1]: raw counts of the highest order (all n-grams of length `order`)
        # plus, for shorter lengths, the n-grams that start with <s> (raw counts kept).
        counts: list[defaultdict] = [defaultdict(int) for _ in range(order)]
        n_sentences = 0
        for sentence in tqdm(sentences, desc="counting n-grams", unit=" sent", disable=not progress):
            if not isinstance(sentence, str):
                raise ValueError(f"sentences must be strings, got {type(sentence).__name__}")
            words = sentence.split()
            if not words:
                continue
            for w in words:
                if w in (BOS, EOS):
                    raise ValueError(f"sentence {sentence!r} contains the reserved token {w}")
            n_sentences += 1
            tokens = (BOS, *words, EOS)
            top = counts[order - 1]
            for i in range(len(tokens) - order + 1):
                top[tokens[i : i + order]] += 1
            for n in range(1, min(order - 1, len(tokens)) + 1):
                counts[n - 1][tokens[:n]] += 1
        if n_sentences == 0:
            raise ValueError("cannot build a language model from no sentences")

        # Adjusted counts: continuation counts for lower orders (n-grams not starting with <s>).
        adjusted: list[dict] = [None] * order  # type: ignore[list-item]
        adjusted[order - 1] = counts[order - 1]
        for n in range(order - 1, 0, -1):
            cont: defaultdict = defaultdict(int)
            for key in adjusted[n]:
                cont[key[1:]] += 1
            for key, c in counts[n - 1].items():  # the <s>-initial n-grams keep raw counts
                cont[key] = c
            adjusted[n - 1] = cont
        del counts

        backoffs: list[dict] = [dict() for _ in range(order)]

        # Unigrams: interpolate with the uniform distribution over the vocabulary.
        uni = {k: c for k, c in adjusted[0].items() if k[0] != BOS}
        if (UNK,) not in uni:
            uni[(UNK,)] = 0
        d1 = _discounts([c for c in uni.values() if c > 0])
        total = sum(uni.values())
        mass = sum(_discount(c, d1) for c in uni.values() if c > 0)
        uniform = (mass / total) / len(uni)
        lin_probs: list[dict] = [dict() for _ in range(order)]
        for key, c in uni.items():
            p = (c - _discount(c, d1)) / total + uniform if c > 0 else uniform
            lin_probs[0][key] = p
        lin_probs[0][(BOS,)] = 0.0

        # Higher orders, interpolated with the order below.
        for n in range(2, order + 1):
            table = adjusted[n - 1]
            ds = _discounts(list(table.values()))
            stats: dict = {}  # context -> [total, discounted mass]
            for key, c in table.items():
                st = stats.get(key[:-1])
                if st is None:
                    stats[key[:-1]] = [c, _discount(c, ds)]
                else:
                    st[0] += c
                    st[1] += _discount(c, ds)
            lower = lin_probs[n - 2]
            out = lin_probs[n - 1]
            for key, c in table.items():
                ctx_total, ctx_mass = stats[key[:-1]]
                out[key] = (c - _discount(c, ds)) / ctx_total + ctx_mass / ctx_total * lower[key[1:]]
            gammas = backoffs[n - 2]
            for ctx, (ctx_total, ctx_mass) in stats.items():
                gammas[ctx] = math.log10(ctx_mass / ctx_total)
            adjusted[n - 1] = None  # type: ignore[call-overload]  # free as we go
            _to_log10(lower)  # the order below is no longer needed in linear form (in place: no copy)
        _to_log10(lin_probs[order - 1])
        probs = lin_probs
        # Every context of a higher order must exist as an n-gram (ARPA requires it).
        for n in range(order - 1):
            for ctx in backoffs[n]:
                assert ctx in probs[n], f"context {ctx} has no {n + 1}-gram"
        model = cls(probs, backoffs)
        log.info("built %d-gram LM from %d sentences: %s", order, n_sentences, model._sizes())
        return model

    @classmethod
    def from_frequency_lists(
        cls,
        unigrams: Mapping[str, float],
        bigrams: Mapping[tuple[str, str], float],
        *,
        bigram_scale: float | None = None,
        max_context_mass: float = 0.95,
        eos_share: float = 0.05,
        unk_share: float = 0.01,
    ) -> "NGramLM":
        """A bigram model from published frequency lists of a large corpus.

        Such lists (for example the Google Books word and word-pair counts that PyPI
        `symspellpy` ships) keep only the most frequent entries, so they have no
        counts of counts and Kneser-Ney does not apply. Instead:
        P(w) = c(w) / N over the listed words, less `eos_share` for `</s>` and
        `unk_share` for `<unk>` (the lists have no sentence ends and no unknown
        words); P(w | v) = c(v w) / (bigram_scale * c(v)) for each listed pair, at
        most `max_context_mass` in all per context; the rest backs off to P(w).
        `<s>` contexts use the unigrams.

        `bigram_scale` converts pair counts to the word list's scale when the two
        lists were counted over corpora of different sizes. None estimates it as the
        largest ratio (listed continuations of v) / c(v) among the 100 most frequent
        words: no context's listed pairs then claim more than all of its mass.
        Pairs with a word that has no unigram count are skipped.
        """
        clean_uni = {}
        for w, c in unigrams.items():
            if not isinstance(w, str) or not w or w != w.strip() or " " in w or w in _SPECIAL:
                raise ValueError(f"unigram {w!r} is not a plain word")
            if not isinstance(c, (int, float)) or isinstance(c, bool) or not c > 0 or not math.isfinite(c):
                raise ValueError(f"unigram count for {w!r} must be a positive number, got {c!r}")
            clean_uni[w] = float(c)
        if not clean_uni:
            raise ValueError("a language model needs at least one unigram")
        if not 0 < max_context_mass < 1:
            raise ValueError(f"max_context_mass must be in (0, 1), got {max_context_mass!r}")
        if not (0 < eos_share < 1 and 0 < unk_share < 1 and eos_share + unk_share < 1):
            raise ValueError(f"eos_share and unk_share must be in (0, 1) and sum below 1, got {eos_share}, {unk_share}")
        pairs: dict[str, dict[str, float]] = defaultdict(dict)
        for key, c in bigrams.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ValueError(f"bigram keys must be (word, word) tuples, got {key!r}")
            if not isinstance(c, (int, float)) or isinstance(c, bool) or not c > 0 or not math.isfinite(c):
                raise ValueError(f"bigram count for {key!r} must be a positive number, got {c!r}")
            v, w = key
            if v in clean_uni and w in clean_uni:
                pairs[v][w] = float(c)
        if bigram_scale is None:
            top = sorted(clean_uni, key=clean_uni.get, reverse=True)[:100]
            ratios = [sum(pairs[v].values()) / clean_uni[v] for v in top if v in pairs]
            bigram_scale = max(ratios) if ratios else 1.0
        if not (isinstance(bigram_scale, (int, float)) and bigram_scale > 0 and math.isfinite(bigram_scale)):
            raise ValueError(f"bigram_scale must be a positive number, got {bigram_scale!r}")

        total = sum(clean_uni.values())
        word_share = 1.0 - eos_share - unk_share
        uni = {(w,): c / total * word_share for w, c in clean_uni.items()}
        uni[(EOS,)], uni[(UNK,)] = eos_share, unk_share
        probs: list[dict] = [uni, {}]
        backoffs: list[dict] = [{}, {}]
        for v, followers in pairs.items():
            cond = {w: c / (bigram_scale * clean_uni[v]) for w, c in followers.items()}
            mass = sum(cond.values())
            if mass > max_context_mass:
                cond = {w: p * max_context_mass / mass for w, p in cond.items()}
                mass = max_context_mass
            lower = sum(uni[(w,)] for w in cond)
            for w, p in cond.items():
                probs[1][(v, w)] = math.log10(p)
            backoffs[0][(v,)] = math.log10((1.0 - mass) / max(1.0 - lower, 1e-12))
        _to_log10(probs[0])
        probs[0][(BOS,)] = LOG10_ZERO
        if not probs[1]:
            probs.pop(), backoffs.pop()
            backoffs[0].clear()
        model = cls(probs, backoffs)
        log.info("frequency-list LM (pair scale %.1f): %s", bigram_scale, model._sizes())
        return model

    @classmethod
    def interpolate(cls, models: Sequence["NGramLM"], weights: Sequence[float]) -> "NGramLM":
        """Static linear interpolation, written as one backoff model.

        P(w | h) = sum_i weights[i] * P_i(w | h) for every n-gram explicit in any model
        (a word outside model i's vocabulary gets 0 there: that model keeps its mass on
        `<unk>`); backoff weights are recomputed so each context sums to one, as SRILM's
        `ngram -mix-lm -write-lm` does. Unseen n-grams then back off in the mixed model,
        the usual approximation of a static mix. `weights` must be positive; they are
        normalised to sum to 1.
        """
        models, weights = list(models), list(weights)
        if not models or len(models) != len(weights):
            raise ValueError(f"need one weight per model, got {len(models)} models and {len(weights)} weights")
        for m in models:
            if not isinstance(m, NGramLM):
                raise ValueError(f"models must be NGramLM, got {type(m).__name__}")
        for wt in weights:
            if not isinstance(wt, (int, float)) or isinstance(wt, bool) or not wt > 0 or not math.isfinite(wt):
                raise ValueError(f"interpolation weights must be positive numbers, got {wt!r}")
        total_weight = sum(weights)
        weights = [wt / total_weight for wt in weights]
        order = max(m.order for m in models)

        def mixed(word: str, context: tuple[str, ...]) -> float:
            if word == BOS:
                return 0.0
            p = 0.0
            for m, wt in zip(models, weights):
                if word in m._vocab:
                    p += wt * 10.0 ** m.score(word, context)
            return p

        probs: list[dict] = [dict() for _ in range(order)]
        backoffs: list[dict] = [dict() for _ in range(order)]
        partial = None  # the mixed model so far (orders 1..n-1), for the backoff denominators
        for n in range(1, order + 1):
            keys = set()
            for m in models:
                if m.order >= n:
                    keys.update(m._probs[n - 1])
            linear = {key: mixed(key[-1], key[:-1]) for key in keys}
            probs[n - 1] = {key: (math.log10(p) if p > 0 else LOG10_ZERO) for key, p in linear.items()}
            if n > 1:
                # Backoff of each context h: the mass its explicit words leave, over what the
                # same words get from the shorter context in the mixed model.
                seen: dict = defaultdict(lambda: [0.0, 0.0])
                for key, p in linear.items():
                    st = seen[key[:-1]]
                    st[0] += p
                    st[1] += 10.0 ** partial.score(key[-1], key[1:-1]) if key[-1] != BOS else 0.0
                for ctx, (num, den) in seen.items():
                    backoffs[n - 2][ctx] = math.log10(max(1.0 - num, 1e-12) / max(1.0 - den, 1e-12))
            partial = cls(probs[:n], backoffs[:n])
        model = cls(probs, backoffs)
        log.info("interpolated %d models: %s", len(models), model._sizes())
        return model

    # ------------------------------------------------------------------ scoring

    def score(self, word: str, context: tuple[str, ...] | list[str] = ()) -> float:
        """log10 P(word | context) with ARPA backoff. Unknown words score as `<unk>`.

        `context` holds the preceding words, oldest first (start a sentence with
        `("<s>",)`); only the last `order - 1` are used.
        """
        probs, backoffs = self._probs, self._backoffs
        vocab = self._vocab
        if word not in vocab:
            if self._unk_key is None:
                return self._unk_log10 + self._backoff_sum(context)
            word = UNK
        ctx = tuple(w if w in vocab else UNK for w in context[-(self.order - 1) :]) if self.order > 1 else ()
        bo = 0.0
        for start in range(len(ctx) + 1):
            h = ctx[start:]
            p = probs[len(h)].get(h + (word,))
            if p is not None:
                return p + bo
            if h:
                bo += backoffs[len(h) - 1].get(h, 0.0)
        raise AssertionError("unreachable: every vocabulary word has a unigram")

    def _backoff_sum(self, context) -> float:
        ctx = tuple(context[-(self.order - 1) :]) if self.order > 1 else ()
        return sum(self._backoffs[len(ctx) - i - 1].get(ctx[i:], 0.0) for i in range(len(ctx)))

    def sentence_logprob(self, text: str, *, bos: bool = True, eos: bool = True) -> float:
        """log10 probability of a whole normalised sentence (with `<s>` and `</s>`)."""
        context: tuple[str, ...] = (BOS,) if bos else ()
        total = 0.0
        keep = max(self.order - 1, 0)
        for w in text.split():
            total += self.score(w, context)
            context = (context + (w,))[-keep:] if keep else ()
        if eos:
            total += self.score(EOS, context)
        return total

    def perplexity(self, sentences: Iterable[str]) -> float:
        """Per-token perplexity (words plus `</s>`) over normalised sentences."""
        total, count = 0.0, 0
        for s in sentences:
            total += self.sentence_logprob(s)
            count += len(s.split()) + 1
        if count == 0:
            raise ValueError("perplexity needs at least one sentence")
        return 10.0 ** (-total / count)

    # ------------------------------------------------------------------ vocabulary

    def __contains__(self, word: object) -> bool:
        return word in self._vocab

    def __len__(self) -> int:
        """Vocabulary size (including `<s>`, `</s>` and `<unk>` when present)."""
        return len(self._vocab)

    @property
    def vocab(self) -> frozenset[str]:
        """All unigrams, special tokens included."""
        return frozenset(self._vocab)

    def prefix_in_vocab(self, chars: str) -> bool:
        """True when some real vocabulary word (not `<s>`, `</s>`, `<unk>`) starts with `chars`."""
        words = self._sorted_words
        if words is None:
            words = self._sorted_words = sorted(w for w in self._vocab if w not in _SPECIAL)
        i = bisect.bisect_left(words, chars)
        return i < len(words) and words[i].startswith(chars)

    def _sizes(self) -> str:
        return ", ".join(f"{n + 1}-grams={len(p)}" for n, p in enumerate(self._probs))

    def __repr__(self) -> str:
        return f"NGramLM(order={self.order}, {self._sizes()})"

    # ------------------------------------------------------------------ ARPA

    def write_arpa(self, out: TextIO) -> None:
        """Write the model in ARPA format to a text stream."""
        out.write("\n\\data\\\n")
        for n, table in enumerate(self._probs):
            out.write(f"ngram {n + 1}={len(table)}\n")
        for n, table in enumerate(self._probs):
            out.write(f"\n\\{n + 1}-grams:\n")
            bos_table = self._backoffs[n]
            lines = []
            for key, p in table.items():
                bo = bos_table.get(key)
                if bo is None:
                    lines.append(f"{p:.6f}\t{' '.join(key)}\n")
                else:
                    lines.append(f"{p:.6f}\t{' '.join(key)}\t{bo:.6f}\n")
                if len(lines) >= 65536:
                    out.write("".join(lines))
                    lines.clear()
            out.write("".join(lines))
        out.write("\n\\end\\\n")

    def to_arpa(self) -> str:
        """The ARPA text (what checkpoints embed as `lm_arpa`)."""
        buf = io.StringIO()
        self.write_arpa(buf)
        return buf.getvalue()

    def save_arpa(self, path: str | os.PathLike) -> None:
        """Write an ARPA file (gzip-compressed when the name ends in `.gz`), atomically."""
        path = os.fspath(path)
        tmp = f"{path}.tmp{os.getpid()}"
        opener = gzip.open if path.endswith(".gz") else open
        with opener(tmp, "wt", encoding="utf-8", newline="\n") as f:
            self.write_arpa(f)
        os.replace(tmp, path)

    @classmethod
    def read_arpa(cls, lines: Iterable[str], *, source: str = "<arpa>") -> "NGramLM":
        """Parse ARPA text given as an iterable of lines."""
        it = iter(lines)
        declared: dict[int, int] = {}
        lineno = 0
        # Header: skip anything before \data\, then read the "ngram n=count" lines.
        for line in it:
            lineno += 1
            if line.strip() == "\\data\\":
                break
        else:
            raise ValueError(f"{source}: not an ARPA file (no \\data\\ line)")
        section = 0
        for line in it:
            lineno += 1
            s = line.strip()
            if not s:
                continue
            if s.startswith("ngram "):
                try:
                    n, count = s[6:].split("=")
                    declared[int(n)] = int(count)
                except ValueError:
                    raise ValueError(f"{source}:{lineno}: bad header line {s!r}") from None
                continue
            section = _section(s, source, lineno)
            break
        if not declared or section != 1:
            raise ValueError(f"{source}: ARPA header declares no n-grams or does not start with \\1-grams:")
        order = max(declared)
        if sorted(declared) != list(range(1, order + 1)):
            raise ValueError(f"{source}: ARPA header orders {sorted(declared)} are not 1..{order}")
        probs: list[dict] = [dict() for _ in range(order)]
        backoffs: list[dict] = [dict() for _ in range(order)]
        table, bos_table, n = probs[0], backoffs[0], 1
        ended = False
        for line in it:
            lineno += 1
            parts = line.split()
            if not parts:
                continue
            head = parts[0]
            if head[0] == "\\":
                if head == "\\end\\":
                    ended = True
                    break
                n = _section(head, source, lineno)
                if n > order:
                    raise ValueError(f"{source}:{lineno}: section \\{n}-grams: beyond the declared order {order}")
                table, bos_table = probs[n - 1], backoffs[n - 1]
                continue
            try:
                p = float(head)
                key = tuple(parts[1 : n + 1])
                if len(key) != n:
                    raise ValueError
                table[key] = p
                if len(parts) > n + 1:
                    bo = float(parts[n + 1])
                    if bo != 0.0 or n < order:
                        bos_table[key] = bo
            except ValueError:
                raise ValueError(f"{source}:{lineno}: bad {n}-gram line {line.strip()!r}") from None
        if not ended:
            raise ValueError(f"{source}: ARPA file is truncated (no \\end\\)")
        for k in range(order):
            if len(probs[k]) != declared[k + 1]:
                log.warning("%s: header declares %d %d-grams, found %d", source, declared[k + 1], k + 1, len(probs[k]))
        return cls(probs, backoffs)

    @classmethod
    def from_arpa(cls, text: str) -> "NGramLM":
        """Parse ARPA text held in a string (e.g. a checkpoint's `lm_arpa`)."""
        return cls.read_arpa(io.StringIO(text))

    @classmethod
    def load_arpa(cls, path: str | os.PathLike) -> "NGramLM":
        """Read an ARPA file (plain or `.gz`). FileNotFoundError / ValueError on bad input."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no ARPA language model at {path}")
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            return cls.read_arpa(f, source=path)


def _section(s: str, source: str, lineno: int) -> int:
    if s.startswith("\\") and s.endswith("-grams:"):
        try:
            return int(s[1:-7])
        except ValueError:
            pass
    raise ValueError(f"{source}:{lineno}: expected a \\N-grams: section, got {s!r}")


def _to_log10(table: dict) -> None:
    log10 = math.log10
    for k, p in table.items():
        table[k] = log10(p) if p > 0 else LOG10_ZERO


def _discounts(values: list[int]) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts (D1, D2, D3+) from the counts of one order."""
    n = [0, 0, 0, 0, 0]
    for c in values:
        if c <= 4:
            n[c] += 1
    n1, n2, n3, n4 = n[1], n[2], n[3], n[4]
    if n1 > 0 and n2 > 0 and n3 > 0 and n4 > 0:
        y = n1 / (n1 + 2 * n2)
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        if 0 < d[0] < 1 and 0 < d[1] < 2 and 0 < d[2] < 3:
            return d
    # Too little data for three discounts: one absolute discount (Ney's estimate), kept in (0.1, 0.9).
    y = n1 / (n1 + 2 * n2) if n1 > 0 else 0.5
    y = min(max(y, 0.1), 0.9)
    return (y, y, y)


def _discount(count: int, ds: tuple[float, float, float]) -> float:
    return ds[0] if count == 1 else ds[1] if count == 2 else ds[2]
