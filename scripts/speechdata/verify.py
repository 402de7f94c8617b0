"""Label checks for found speech: does each clip say its own text rather than some other line?

PocketSphinx (PyPI, US English model) decodes each clip under an n-gram LM built from the source's own
texts (a "grammar-constrained" decode). On acted, band-limited game or toy audio it is too weak to prove
every word, but it can show whether a clip fits its own label better than chance: chance is the mean
WER of the same decode against random other labels of the source with about as many words. A clip
passes when its own label fits better than chance. `group_rule` drops whole groups (a dialogue file, a
folder) whose decoded clips fit no better than chance on average or pass less than half the time: a
shifted text/file mapping shows up there even when only a sample was decoded.

PocketSphinx is installed privately (`pip install --target <tools>/pocketsphinx`) when it is not
importable: it is a data-build tool, never a dependency of the project.
"""
from __future__ import annotations

import logging
import random
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

__all__ = ["ensure_pocketsphinx", "word_error_rate", "chance_wer", "LabelChecker", "group_rule", "CheckLog"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def ensure_pocketsphinx(tools: Path) -> None:
    """Make `import pocketsphinx` work, installing it under tools/pocketsphinx if needed."""
    try:
        import pocketsphinx  # noqa: F401
        return
    except ImportError:
        pass
    target = Path(tools) / "pocketsphinx"
    if not (target / "pocketsphinx").exists():
        log.info("pip install --target %s pocketsphinx (used only to verify labels)", target)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "pocketsphinx"],
                       check=True)
    sys.path.insert(0, str(target))


def word_error_rate(ref: list[str], hyp: list[str]) -> float:
    """Word-level Levenshtein distance over the reference length."""
    d = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(hyp) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (ref[i - 1] != hyp[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(hyp)] / max(1, len(ref))


def chance_wer(hyp: list[str], own: str, pool: list[str], key: str, tries: int = 5) -> float:
    """Mean WER of the decode against random other labels of about the same length (chance level)."""
    rng = random.Random(key)
    n = len(own.split())
    cands = [t for t in pool if t != own and abs(len(t.split()) - n) <= 1] or [t for t in pool if t != own]
    if not cands:
        return 1.0
    return sum(word_error_rate(rng.choice(cands).split(), hyp) for _ in range(tries)) / tries


class LabelChecker:
    """PocketSphinx under an LM of the source's own texts; `check(audio, text)` returns a decision dict."""

    def __init__(self, texts: Iterable[str], tools: Path, lm_path: Path, order: int = 3):
        ensure_pocketsphinx(tools)
        from pocketsphinx import Decoder  # type: ignore

        from speech.lm import NGramLM

        self.pool = sorted(set(texts))
        self.decoder = Decoder(loglevel="ERROR")
        words = {w for t in self.pool for w in t.split()}
        self.known = {w for w in words if self.decoder.lookup_word(w) is not None}
        lm_texts = [t for t in self.pool if all(w in self.known for w in t.split())]
        if not lm_texts:
            raise ValueError("no label has all its words in the PocketSphinx dictionary")
        # An n-gram LM over the source's own texts: far stronger than a general LM, and unlike a JSGF
        # alternation of thousands of sentences it loads in seconds.
        NGramLM.build(lm_texts, order=order).save_arpa(lm_path)
        self.decoder.add_lm_file("own", str(lm_path))
        self.decoder.activate_search("own")
        log.info("label check: LM over %d texts (%d of %d words in the PocketSphinx dictionary)",
                 len(lm_texts), len(self.known), len(words))

    def decode(self, audio: str | Path) -> str:
        x, sr = sf.read(str(audio), dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        if sr != 16000:  # the PocketSphinx English model expects 16 kHz
            g = np.gcd(16000, sr)
            x = resample_poly(x, 16000 // g, sr // g)
        pcm = (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp else ""

    def check(self, audio: str | Path, text: str, hyp: str | None = None) -> dict:
        """Decision for one clip; pass `hyp` to re-judge a stored decode without decoding again."""
        if hyp is None:
            hyp = self.decode(audio)
        words = hyp.split()
        wer = round(word_error_rate(text.split(), words), 3)
        chance = round(chance_wer(words, text, self.pool, str(audio)), 3)
        return {"audio": str(audio), "hyp": hyp, "wer": wer, "random_label_wer": chance, "ok": wer < chance}


def group_rule(decisions: list[dict], group_of: dict[str, str], min_decoded: int = 3) -> set[str]:
    """Groups (values of group_of[audio]) with min_decoded+ decoded clips that fit no better than chance
    on average, or pass less than half the time."""
    per_group: dict[str, list[dict]] = {}
    for d in decisions:
        if d["audio"] in group_of:
            per_group.setdefault(group_of[d["audio"]], []).append(d)
    bad = set()
    for g, ds in per_group.items():
        if len(ds) < min_decoded:
            continue
        own = sum(d["wer"] for d in ds) / len(ds)
        chance = sum(d["random_label_wer"] for d in ds) / len(ds)
        if own >= chance or sum(d["ok"] for d in ds) / len(ds) < 0.5:
            bad.add(g)
    return bad


class CheckLog:
    """The resumable label check of one source: decisions live in `path`, one JSON line per decoded clip.

    Stored decodes are re-judged against the current rows (cheap: no decoding), so a change of rule or
    label pool applies to them too; `decode` adds new ones and calls `flush` every `every` clips and at
    the end, so an interrupted run loses at most that many decodes. `tag(decision, row)` adds a source's
    own fields (its group) to each decision.
    """

    def __init__(self, checker: LabelChecker, rows: list[dict], path: Path,
                 tag: Callable[[dict, dict], dict] = lambda decision, row: decision):
        from .util import read_jsonl

        self.checker, self.path, self.tag = checker, Path(path), tag
        self.by_audio = {r["audio"]: r for r in rows}
        stored = {d["audio"]: d for d in read_jsonl(self.path) if d["audio"] in self.by_audio}
        self.decisions = [tag(checker.check(a, self.by_audio[a]["text"], hyp=d["hyp"]), self.by_audio[a])
                          for a, d in stored.items()]
        self.done = set(stored)

    def save(self) -> None:
        from .util import write_jsonl_atomic

        write_jsonl_atomic(self.path, self.decisions)

    def decode(self, todo: list[dict], flush: Callable[[], T], desc: str, every: int = 100) -> T:
        from tqdm import tqdm

        for n, r in enumerate(tqdm(todo, desc=desc, mininterval=10)):
            self.decisions.append(self.tag(self.checker.check(r["audio"], r["text"]), r))
            self.done.add(r["audio"])
            if (n + 1) % every == 0:
                flush()
        return flush()
