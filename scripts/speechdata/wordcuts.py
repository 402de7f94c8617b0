"""Short clips of one to three words, cut out of real training sentences by CTC forced alignment.

Why: the real speech we may train on is nearly all sentences (Kathleen, the game actors, Allison's
prompts), so the model hears a word on its own only from the 30 Speech Commands speakers and TTS.
On single words it inserts short words ("guitar" -> "i tar") that sentence openings taught it. Cutting
words out of the sentences it already trains on gives isolated words in many real voices.

How: the recognizer (`--cut-model`, the shipped "en" by default) gives the log posteriors of a
sentence, `torchaudio.functional.forced_align` aligns its transcript, and each word's span is the
frames of its first to last letter, moved earlier by the model's emission lag (it emits a letter a
little after hearing it). A cut runs from halfway between the chosen words and their neighbours, or
from the clip's edge. Checks:
- every letter of the chosen words must have been aligned with a mean posterior of at least
  `min_letter_posterior` (a low one means the transcript and the audio disagree there);
- the cut clip must still hold its label: the CTC loss of the label on the cut, per letter, must be at
  most `max_loss_per_letter` nats (a cut that clipped a sound off fails this).

Output: `<out>/wordcuts/<corpus>/<n>.flac` and `<out>/wordcuts.jsonl`; each row keeps its source's
speaker and names its corpus `<source corpus>_cut`, so training can weight the cuts on their own.
Cuts of the real test and dev speakers are never made: only training manifests are read.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF

from .util import write_flac_16k, write_jsonl_atomic

__all__ = ["CutConfig", "WordSpan", "align_words", "choose_cuts", "build_wordcuts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CutConfig:
    per_utterance: int = 2  # cuts drawn from each sentence of two or more words
    span_weights: tuple[float, ...] = (0.6, 0.25, 0.15)  # chance of a cut of 1, 2, 3 words
    onset_lag: float = 0.15  # seconds the first letter's emission trails the word's onset (fitted, see docs)
    offset_lag: float = 0.05  # seconds the last letter's emission trails the word's end
    edge_margin: float = 0.15  # at most this much audio kept before the first / after the last word of a clip
    min_letter_posterior: float = 0.3  # mean aligned posterior of every letter of a cut's words
    max_loss_per_letter: float = 1.2  # CTC loss of the label on the cut clip, nats per letter
    min_seconds: float = 0.25
    seed: int = 0


@dataclass(frozen=True)
class WordSpan:
    word: str
    start: float  # seconds: where the word's sound begins (emission lag taken off)
    end: float  # seconds: where it ends
    posterior: float  # lowest mean aligned posterior among its letters


def align_words(log_probs: np.ndarray, text: str, alphabet, frame_shift: float, cfg: CutConfig) -> list[WordSpan]:
    """The words of `text` with their times in the audio behind `log_probs` (T, V); [] if it cannot align."""
    ids = alphabet.encode(text)
    lp = torch.from_numpy(np.ascontiguousarray(log_probs, dtype=np.float32))
    if not ids or lp.shape[0] < len(ids):
        return []
    try:
        frames, scores = AF.forced_align(lp[None], torch.tensor([ids], dtype=torch.int32), blank=alphabet.blank)
    except RuntimeError:  # more letters (with the blanks repeats need) than frames
        return []
    letters = AF.merge_tokens(frames[0], scores[0].exp(), blank=alphabet.blank)
    if len(letters) != len(ids):
        return []
    space = alphabet.encode(" ")[0] if " " in alphabet.symbols else None
    words, current = [], []
    for span in letters + [None]:
        if span is None or span.token == space:
            if current:
                word = "".join(alphabet.symbols[s.token] for s in current)
                words.append(WordSpan(word, current[0].start * frame_shift - cfg.onset_lag,
                                      current[-1].end * frame_shift - cfg.offset_lag,
                                      min(float(s.score) for s in current)))
            current = []
        else:
            current.append(span)
    return words


def choose_cuts(words: list[WordSpan], duration: float, rng: random.Random, cfg: CutConfig) -> list[tuple[float, float, str]]:
    """Up to `per_utterance` (start, end, text) cuts of 1-3 neighbouring words whose letters aligned well."""
    if len(words) < 2:
        return []
    cuts, seen = [], set()
    for _ in range(cfg.per_utterance * 3):  # a few tries: some draws hit poorly aligned words
        if len(cuts) == cfg.per_utterance:
            break
        n = rng.choices(range(1, len(cfg.span_weights) + 1), cfg.span_weights)[0]
        n = min(n, len(words) - 1)  # never the whole sentence
        i = rng.randrange(0, len(words) - n + 1)
        if (i, n) in seen:
            continue
        seen.add((i, n))
        chosen = words[i:i + n]
        if min(w.posterior for w in chosen) < cfg.min_letter_posterior:
            continue
        start = chosen[0].start - cfg.edge_margin if i == 0 else (words[i - 1].end + chosen[0].start) / 2
        end = chosen[-1].end + cfg.edge_margin if i + n == len(words) else (chosen[-1].end + words[i + n].start) / 2
        start, end = max(0.0, start), min(duration, end)
        if end - start >= cfg.min_seconds:
            cuts.append((start, end, " ".join(w.word for w in chosen)))
    return cuts


def _label_loss(recognizer, x: np.ndarray, text: str) -> float:
    """CTC loss of `text` on the clip, nats per letter (inf when it cannot be aligned)."""
    lp = torch.from_numpy(recognizer.log_probs(x))
    ids = recognizer.alphabet.encode(text)
    loss = torch.nn.functional.ctc_loss(lp[:, None], torch.tensor([ids]), torch.tensor([lp.shape[0]]),
                                        torch.tensor([len(ids)]), blank=recognizer.alphabet.blank,
                                        reduction="sum", zero_infinity=False)
    return float(loss) / len(ids)


def build_wordcuts(manifests: list[Path], out: Path, recognizer, cfg: CutConfig = CutConfig(),
                   progress: bool = True) -> dict:
    """Cut the sentences of `manifests` into word clips; write out/wordcuts.jsonl. Returns counts."""
    from speech.audio import SAMPLE_RATE as SR, load_audio
    from speech.data import read_manifest
    from tqdm import tqdm

    entries = [e for m in manifests for e in read_manifest(m, alphabet=recognizer.alphabet)]
    rng = random.Random(cfg.seed)
    counts = {"sentences": len(entries), "aligned": 0, "failed_check": 0, "poorly_aligned": 0}
    rows_out, seconds = [], 0.0
    for k, entry in enumerate(tqdm(entries, desc="wordcuts", disable=not progress, mininterval=5)):
        if len(entry.text.split()) < 2:
            continue
        x = load_audio(entry.audio)
        words = align_words(recognizer.log_probs(x), entry.text, recognizer.alphabet, recognizer.frame_shift, cfg)
        if not words:
            counts["poorly_aligned"] += 1
            continue
        counts["aligned"] += 1
        corpus = f"{entry.corpus or 'real'}_cut"
        for j, (start, end, text) in enumerate(choose_cuts(words, len(x) / SR, rng, cfg)):
            clip = x[int(start * SR):int(end * SR)]
            if _label_loss(recognizer, clip, text) > cfg.max_loss_per_letter:
                counts["failed_check"] += 1
                continue
            path = out / "wordcuts" / corpus / f"{k:06d}_{j}.flac"
            write_flac_16k(path, clip, SR)
            rows_out.append({"audio": str(path.resolve()), "text": text, "duration": round(len(clip) / SR, 3),
                             "speaker": entry.speaker, "corpus": corpus})
            seconds += len(clip) / SR
    write_jsonl_atomic(out / "wordcuts.jsonl", rows_out)
    counts.update(cuts=len(rows_out), hours=round(seconds / 3600, 3),
                  words={n: sum(1 for r in rows_out if len(r["text"].split()) == n) for n in (1, 2, 3)})
    log.info("wordcuts: %s", counts)
    return counts
