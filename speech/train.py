"""Training of the CTC acoustic model: configuration, presets, the loop, evaluation (WER/CER), checkpoints.

``train(TrainConfig(...))`` runs on CPU or CUDA ("auto"), single process or under ``torchrun`` (DDP with
gloo on CPU, nccl on CUDA; rank 0 logs, evaluates and writes checkpoints). In ``out_dir`` it keeps

- ``latest.pt``: the training checkpoint (model, optimizer, scheduler, step, RNG state, config), written
  atomically every ``checkpoint_minutes``; a new run with the same ``out_dir`` resumes from it exactly;
- ``best.pt``: the slim inference checkpoint with the best dev score, in the format that
  ``speech.Recognizer.load`` reads (``format``, ``version``, ``acoustic_config``, ``feature_config``,
  ``alphabet``, ``state_dict``, ``metrics``).

``python -m speech.train --help`` (or ``scripts/train_speech.py``) is the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from speech.augment import AugmentConfig
from speech.data import (BucketBatchSampler, ManifestEntry, SpeechDataset, collate, ctc_min_frames, make_loader,
                         read_manifest)

__all__ = [
    "TrainConfig",
    "PRESETS",
    "make_config",
    "train",
    "evaluate",
    "wer",
    "cer",
    "edit_distance",
    "greedy_decode",
    "StepResult",
    "train_step",
    "main",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "speech-ctc"
CHECKPOINT_VERSION = 1


# ============================================================================ metrics


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1)."""
    if len(ref) < len(hyp):
        ref, hyp = hyp, ref
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def _as_list(x: str | Sequence[str]) -> list[str]:
    return [x] if isinstance(x, str) else list(x)


def _unit_counts(refs, hyps, split) -> tuple[np.ndarray, np.ndarray]:
    """Per-utterance edits and reference units (words or characters, by `split`)."""
    refs, hyps = _as_list(refs), _as_list(hyps)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    errors = np.array([edit_distance(split(r), split(h)) for r, h in zip(refs, hyps)], dtype=np.int64)
    units = np.array([len(split(r)) for r in refs], dtype=np.int64)
    return errors, units


def _error_rate(refs, hyps, split) -> tuple[float, int, int]:
    errors, units = _unit_counts(refs, hyps, split)
    errors, total = int(errors.sum()), int(units.sum())
    if total == 0:
        return (0.0 if errors == 0 else float("inf")), errors, total
    return errors / total, errors, total


def _words(s: str) -> list[str]:
    return s.split()


def _chars(s: str) -> str:
    return " ".join(s.split())


def wer(refs: str | Sequence[str], hyps: str | Sequence[str]) -> float:
    """Corpus word error rate: total word edit distance / total reference words."""
    return _error_rate(refs, hyps, _words)[0]


def cer(refs: str | Sequence[str], hyps: str | Sequence[str]) -> float:
    """Corpus character error rate (spaces count, runs of spaces collapse): char edits / reference chars."""
    return _error_rate(refs, hyps, _chars)[0]


# Test sets here are small (6 read sentences, 79 command words): a WER alone hides how little it can
# tell apart. Bootstrap intervals (resampling utterances, the unit the errors cluster in) say it.
def _word_counts(refs, hyps) -> tuple[np.ndarray, np.ndarray]:
    errors, words = _unit_counts(refs, hyps, _words)
    if not len(words):
        raise ValueError("no utterances to score")
    return errors.astype(np.float64), words.astype(np.float64)


def _resample_rows(n: int, resamples: int, seed: int) -> np.ndarray:
    if resamples < 100:
        raise ValueError(f"resamples must be at least 100, got {resamples}")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _check_confidence(confidence: float) -> float:
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    return (1.0 - confidence) / 2


def wer_interval(refs: str | Sequence[str], hyps: str | Sequence[str], *, confidence: float = 0.95,
                 resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the corpus WER, resampling whole utterances (fixed seed, so
    repeatable). A resample without reference words counts as WER 0."""
    tail = _check_confidence(confidence)
    errors, words = _word_counts(refs, hyps)
    rows = _resample_rows(len(errors), resamples, seed)
    e, w = errors[rows].sum(axis=1), words[rows].sum(axis=1)
    rates = np.divide(e, w, out=np.zeros_like(e), where=w > 0)
    low, high = np.quantile(rates, [tail, 1.0 - tail])
    return float(low), float(high)


def paired_wer_difference(refs: Sequence[str], hyps_a: Sequence[str], hyps_b: Sequence[str], *,
                          confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> dict:
    """WER(a) - WER(b) on the same utterances, with a paired bootstrap interval (both systems scored on
    the same resampled utterances) and the share of resamples where a is strictly better.

    Returns dict(diff, low, high, a_better). An interval that excludes 0 is a difference the test set
    can show; one that straddles 0 is a tie at this confidence."""
    tail = _check_confidence(confidence)
    errors_a, words = _word_counts(refs, hyps_a)
    errors_b, _ = _word_counts(refs, hyps_b)
    total = words.sum()
    if total == 0:
        raise ValueError("the references have no words")
    rows = _resample_rows(len(words), resamples, seed)
    w = words[rows].sum(axis=1)
    diff = np.divide((errors_a - errors_b)[rows].sum(axis=1), w, out=np.zeros(len(rows)), where=w > 0)
    low, high = np.quantile(diff, [tail, 1.0 - tail])
    return {"diff": float((errors_a.sum() - errors_b.sum()) / total), "low": float(low), "high": float(high),
            "a_better": float(np.mean(diff < 0))}


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, alphabet) -> list[str]:
    """Best-path CTC decoding of a batch (B, T, V): argmax, collapse repeats, drop blanks."""
    best = log_probs.argmax(dim=-1).cpu()  # (B, T)
    out = []
    for b in range(best.shape[0]):
        ids = best[b, : int(lengths[b])].tolist()
        kept = [t for k, t in enumerate(ids) if t != 0 and (k == 0 or t != ids[k - 1])]
        out.append(" ".join(alphabet.decode(kept).split()))
    return out


# ============================================================================ configuration


@dataclass
class TrainConfig:
    """Everything a training run needs; saved inside its checkpoints."""

    # data
    train_manifests: list[str] = field(default_factory=list)  # JSONL manifests to train on
    train_weights: list[float] | None = None  # sampling weight per train manifest (2.0 = seen twice per epoch); None = all 1
    # extra factor per `corpus` field of the manifest lines ({"speech_commands": 8}): weights parts of one
    # manifest apart without splitting it into files; a corpus absent from every train manifest is an error
    corpus_weights: dict[str, float] = field(default_factory=dict)
    dev_manifests: list[str] = field(default_factory=list)  # JSONL manifests for periodic WER/CER; best.pt = lowest mean
    max_utt_seconds: float = 20.0  # utterances longer than this are left out of training
    eval_max_utts: int | None = 400  # evaluate on at most this many utterances per dev manifest (None = all)
    # model and features (overrides of speech.model.AcousticConfig / speech.features.FeatureConfig defaults)
    model: dict = field(default_factory=dict)  # e.g. {"hidden": 320, "layers": 3, "stack": 3, "stride": 3}
    features: dict = field(default_factory=dict)  # e.g. {"n_mels": 80}
    augment: dict = field(default_factory=dict)  # overrides of speech.augment.AugmentConfig; {"off": True} disables all
    norm_utts: int = 300  # training utterances sampled to compute the global feature mean/std
    # optimisation
    optimizer: str = "adamw"  # only "adamw" for now
    lr: float = 1.5e-3  # peak learning rate
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW betas
    warmup_steps: int = 300  # linear warm-up from 0 to lr
    schedule: str = "cosine"  # after warm-up: "cosine" (to min_lr_ratio at schedule_steps), "exponential", "constant"
    min_lr_ratio: float = 0.05  # floor of the decay as a fraction of lr
    decay_gamma: float = 0.5  # exponential schedule: lr multiplies by this every decay_steps
    decay_steps: int = 2000  # exponential schedule: steps per decay_gamma
    grad_clip: float = 5.0  # clip the global gradient norm to this (<= 0 turns it off)
    # length of the run (whichever ends first)
    epochs: int = 1000  # passes over the (weighted) training data
    max_steps: int | None = None  # optimizer steps in total (counting resumed ones)
    max_hours: float | None = None  # wall-clock hours for this invocation
    schedule_steps: int | None = None  # steps the cosine schedule spans (default max_steps, else 20000)
    # batching
    batch_seconds: float = 120.0  # padded audio seconds per batch (per process), counted after augmentation
    max_batch_items: int | None = 64  # most utterances per batch
    bucket_size: int = 2000  # items per sorting bucket
    num_workers: int = 1  # DataLoader worker processes (0 = load in the training process)
    audio_cache_mb: float = 3072.0  # decoded training audio kept in memory per loading process (0 = decode every time)
    preload_audio: bool = False  # decode the training audio into that cache before the first step (shared by workers)
    # intervals
    log_every: int = 25  # steps between log lines
    eval_every: int = 500  # steps between dev evaluations (0 = only at the end)
    eval_minutes: float | None = None  # also evaluate when this many minutes passed since the last evaluation
    checkpoint_minutes: float = 5.0  # minutes between latest.pt writes
    checkpoint_every: int | None = None  # also write latest.pt every this many steps
    # runtime
    seed: int = 0  # seeds the model init, sampling and augmentation
    device: str = "auto"  # "auto" (cuda when available), "cpu", "cuda", "cuda:1"
    threads: int = 1  # torch CPU threads of the training process (0 = leave torch's default)
    amp: bool = False  # bfloat16 autocast for the forward pass on CUDA (ignored on CPU)
    out_dir: str = "runs/speech"  # where checkpoints and metrics go
    resume: bool | str = "auto"  # "auto": continue from out_dir/latest.pt if present; a path; False: start fresh
    init_from: str | None = None  # start from the weights of this checkpoint (new optimizer, step 0)
    progress: bool = True  # tqdm progress bar on rank 0

    def __post_init__(self) -> None:
        if self.optimizer != "adamw":
            raise ValueError(f"optimizer {self.optimizer!r} not supported; valid choices: ['adamw']")
        if self.schedule not in ("cosine", "exponential", "constant"):
            raise ValueError(f"schedule {self.schedule!r}; valid choices: ['cosine', 'exponential', 'constant']")
        if self.train_weights is not None and len(self.train_weights) != len(self.train_manifests):
            raise ValueError(f"train_weights has {len(self.train_weights)} entries for "
                             f"{len(self.train_manifests)} train manifests")
        if any(not isinstance(w, (int, float)) or w < 0 for w in self.corpus_weights.values()):
            raise ValueError(f"corpus_weights must be numbers >= 0: {self.corpus_weights}")
        if self.lr <= 0 or self.batch_seconds <= 0:
            raise ValueError(f"lr ({self.lr}) and batch_seconds ({self.batch_seconds}) must be positive")
        self.betas = tuple(self.betas)
        self.train_manifests = [str(p) for p in self.train_manifests]
        self.dev_manifests = [str(p) for p in self.dev_manifests]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; valid fields: {sorted(names)}")
        return cls(**d)


PRESETS: dict[str, dict[str, Any]] = {
    # for tests: a one-layer toy that trains in seconds
    "tiny": dict(model={"hidden": 48, "layers": 1, "stack": 3, "stride": 3, "dropout": 0.0},
                 features={"n_mels": 40}, augment={"off": True}, lr=5e-3, warmup_steps=10, batch_seconds=30.0,
                 max_steps=200, eval_every=50, log_every=10, norm_utts=50, num_workers=0, checkpoint_minutes=1.0),
    # quick experiments on a CPU
    "small": dict(model={"hidden": 256, "layers": 2, "stack": 3, "stride": 3}, lr=2e-3, warmup_steps=200,
                  batch_seconds=90.0),
    # 3 x 320 unidirectional LSTM over 3 stacked frames (30 ms output frames): what the shipped model was
    # trained as for 440 h before scripts/widen_speech_model.py made it 3 x 512 (see its model card)
    "default": dict(model={"hidden": 320, "layers": 3, "stack": 3, "stride": 3, "dropout": 0.1},
                    features={"n_mels": 80}, lr=1.5e-3, warmup_steps=300, batch_seconds=120.0),
}


def make_config(preset: str = "default", **overrides) -> TrainConfig:
    """A TrainConfig from a preset name plus field overrides."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid choices: {sorted(PRESETS)}")
    d = dict(PRESETS[preset])
    for k, v in overrides.items():
        if k in ("model", "features", "augment") and v is not None:
            d[k] = {**d.get(k, {}), **v}
        else:
            d[k] = v
    return TrainConfig.from_dict(d)


def _augment_config(d: dict) -> AugmentConfig | None:
    d = dict(d or {})
    if d.pop("off", False):
        return None
    return AugmentConfig.from_dict(d)


# ============================================================================ one step


@dataclass
class StepResult:
    """What one training step did."""

    loss: float  # mean CTC loss per kept utterance (nan when skipped for a bad loss)
    grad_norm: float  # global gradient norm before clipping (nan when not computed)
    skipped: bool  # True when the update was skipped (non-finite loss or gradients)
    reason: str  # "" or why it was skipped
    n_utts: int  # utterances that contributed to the loss
    dropped: int  # utterances dropped because their labels need more frames than the model produced


def _ctc_loss(log_probs, out_lengths, batch, silent_start: int = 0) -> tuple[torch.Tensor, int, int]:
    """CTC loss summed over the kept utterances / their count; also (kept, dropped).

    An utterance is kept when its labels fit in its output frames after the model's silent start."""
    labels, label_lengths = batch.labels, batch.label_lengths
    need = torch.tensor([ctc_min_frames(labels[b, : int(label_lengths[b])].tolist()) + silent_start
                         for b in range(len(batch))], device=out_lengths.device)
    keep = need <= out_lengths
    n_keep = int(keep.sum())
    dropped = len(batch) - n_keep
    if n_keep == 0:
        return log_probs.sum() * 0.0, 0, dropped
    if dropped:
        log_probs, out_lengths = log_probs[keep], out_lengths[keep]
        labels, label_lengths = labels[keep], label_lengths[keep]
    loss = F.ctc_loss(log_probs.float().transpose(0, 1),  # (T', B, V)
                      labels, out_lengths, label_lengths, blank=0, reduction="sum", zero_infinity=True)
    return loss / n_keep, n_keep, dropped


def train_step(model: torch.nn.Module, batch, optimizer: torch.optim.Optimizer, *, grad_clip: float = 5.0,
               amp: bool = False, distributed: bool = False) -> StepResult:
    """Forward, CTC loss, backward, clip, update, with guards.

    A non-finite loss skips the batch before backward (under DDP every rank still runs backward so the
    gradient all-reduce stays in step; the non-finite gradients then skip the update on all ranks alike).
    Non-finite gradients skip the update. Skipped steps leave the parameters and optimizer state untouched.
    """
    model.train()
    optimizer.zero_grad(set_to_none=True)
    device_type = batch.feats.device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp and device_type == "cuda"):
        log_probs, out_lengths, _ = model(batch.feats, batch.feat_lengths, final_state=False)  # (B, T', V)
    silent_start = getattr(getattr(model, "module", model).config, "silent_start", 0)
    loss, n_keep, dropped = _ctc_loss(log_probs, out_lengths, batch, silent_start)
    finite = bool(torch.isfinite(loss))
    if not finite and not distributed:
        optimizer.zero_grad(set_to_none=True)
        return StepResult(float("nan"), float("nan"), True, "non-finite loss", n_keep, dropped)
    loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    if grad_clip and grad_clip > 0:
        norm = float(torch.nn.utils.clip_grad_norm_(params, grad_clip))
    else:
        norm = float(torch.linalg.vector_norm(torch.stack([p.grad.detach().norm() for p in params]))) if params else 0.0
    if not math.isfinite(norm):
        optimizer.zero_grad(set_to_none=True)
        return StepResult(float(loss.detach()) if finite else float("nan"), norm, True,
                          "non-finite loss" if not finite else "non-finite gradients", n_keep, dropped)
    if n_keep == 0:
        optimizer.zero_grad(set_to_none=True)
        return StepResult(0.0, norm, True, "no utterance fits its output frames", 0, dropped)
    optimizer.step()
    return StepResult(float(loss.detach()), norm, False, "", n_keep, dropped)


# ============================================================================ evaluation


def _entries(manifest, alphabet=None) -> list[ManifestEntry]:
    if isinstance(manifest, (str, os.PathLike)):
        return read_manifest(manifest, alphabet=alphabet)
    return list(manifest)


@torch.no_grad()
def evaluate(recognizer_or_model, manifest, *, alphabet=None, feature_config=None, device=None,
             max_utts: int | None = None, batch_seconds: float = 60.0, examples: int = 3,
             progress: bool = False, phrases: Sequence[str] | None = None) -> dict:
    """Word and character error rates of a Recognizer (its own decoder) or an AcousticModel (greedy) on a manifest.

    ``phrases``: decode with the Recognizer in phrase-list mode (command mode) instead.

    ``manifest`` is a path or a list of :class:`ManifestEntry`. Returns dict(wer, wer_ci (95 % bootstrap
    interval, see :func:`wer_interval`), cer, n_utts, n_words, n_chars, word_errors, char_errors, audio_seconds,
    compute_seconds, rtf, examples=[(ref, hyp), ...]).
    """
    from speech.audio import load_audio
    from tqdm import tqdm

    entries = _entries(manifest, alphabet)
    if max_utts is not None and len(entries) > max_utts:
        rng = random.Random(1234)  # a fixed subset so scores are comparable across evaluations
        entries = sorted(rng.sample(entries, max_utts), key=lambda e: e.source)
    refs, hyps = [], []
    t0 = time.perf_counter()
    audio_seconds = 0.0
    if hasattr(recognizer_or_model, "transcribe"):
        rec = recognizer_or_model
        for e in tqdm(entries, desc="evaluate", disable=not progress, leave=False):
            x = load_audio(e.audio)
            audio_seconds += len(x) / 16000
            refs.append(e.text)
            hyps.append(" ".join(rec.transcribe(x, phrases=phrases).text.split()))
    else:
        if phrases is not None:
            raise ValueError("phrases need a Recognizer (an AcousticModel is scored greedily)")
        from speech.features import FeatureConfig
        from speech.vocab import Alphabet

        model = recognizer_or_model
        model = getattr(model, "module", model)  # unwrap DDP
        alphabet = alphabet or Alphabet()
        feature_config = feature_config or FeatureConfig()
        if device is None:
            device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        ds = SpeechDataset(entries, alphabet, feature_config, augment=None)
        sampler = BucketBatchSampler(ds.durations, batch_seconds, shuffle=False, bucket_size=max(1, len(ds)))
        order: list[int] = []
        for idxs in tqdm(list(sampler), desc="evaluate", disable=not progress, leave=False):
            batch = collate([ds[i] for i in idxs]).to(device)
            log_probs, out_lengths, _ = model(batch.feats, batch.feat_lengths, final_state=False)  # (B, T', V)
            hyps.extend(greedy_decode(log_probs, out_lengths, alphabet))
            refs.extend(batch.texts)
            order.extend(idxs)
            audio_seconds += batch.seconds
        model.train(was_training)
    compute = time.perf_counter() - t0
    w, we, nw = _error_rate(refs, hyps, _words)
    c, ce, nc = _error_rate(refs, hyps, _chars)
    wer_ci = list(wer_interval(refs, hyps)) if refs else None
    return {"wer": w, "wer_ci": wer_ci, "cer": c, "n_utts": len(refs), "n_words": nw, "n_chars": nc, "word_errors": we,
            "char_errors": ce, "audio_seconds": audio_seconds, "compute_seconds": compute,
            "rtf": compute / audio_seconds if audio_seconds else 0.0,
            "examples": [(r, h) for r, h in zip(refs, hyps)][:examples]}


def tune_decoder(recognizer, manifest, *, lm_weights: Sequence[float] = (0.2, 0.35, 0.5, 0.7, 1.0, 1.4),
                 word_bonuses: Sequence[float] = (-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
                 beam_sizes: Sequence[int] | None = None, unk_penalties: Sequence[float] | None = None,
                 beam_size: int | None = None, progress: bool = False) -> dict:
    """Grid-search the beam search's settings on a manifest (WER, then CER, decides).

    The grid is every combination of `lm_weights`, `word_bonuses`, `beam_sizes` (default: `beam_size`,
    else the recognizer's) and `unk_penalties` (default: the recognizer's). The acoustic model runs
    once per utterance; only the decoding is repeated, and each cell records its decoding CPU time
    per second of audio (`decode_rtf`), since a wider beam costs time. Needs a recognizer with a
    word LM. Returns dict(best=cell, grid=[cell, ...], n_utts, greedy=dict(wer, cer), current=cell),
    a cell being dict(lm_weight, word_bonus, beam_size, unk_penalty, wer, cer, decode_rtf); the
    recognizer is not changed. Ties go to the cell closest to the current settings, then the smaller beam.
    """
    from speech.audio import load_audio
    from speech.decoder import BeamSearchDecoder, GreedyDecoder
    from tqdm import tqdm

    if recognizer.lm is None:
        raise ValueError("tuning the decoder needs a recognizer with a word LM (the LM weight means nothing without)")
    lm_weights, word_bonuses = [float(v) for v in lm_weights], [float(v) for v in word_bonuses]
    beams = [int(b) for b in (beam_sizes or [beam_size or recognizer.beam_size])]
    unks = [float(u) for u in (unk_penalties or [recognizer.unk_penalty])]
    if not lm_weights or not word_bonuses:
        raise ValueError("give at least one LM weight and one word bonus")
    if any(not math.isfinite(v) or v < 0 for v in lm_weights) or any(not math.isfinite(v) for v in word_bonuses):
        raise ValueError(f"LM weights must be finite and >= 0, word bonuses finite; got {lm_weights}, {word_bonuses}")
    if any(b < 1 for b in beams) or any(not math.isfinite(u) or u > 0 for u in unks):
        raise ValueError(f"beam sizes must be >= 1 and unknown-word penalties finite and <= 0; got {beams}, {unks}")
    entries = _entries(manifest)
    if not entries:
        raise ValueError("the tuning manifest has no utterances")
    refs = [e.text for e in entries]
    posteriors = [recognizer.log_probs(load_audio(e.audio))
                  for e in tqdm(entries, desc="acoustic model", disable=not progress, leave=False)]
    audio_seconds = max(sum(lp.shape[0] for lp in posteriors) * recognizer.frame_shift, 1e-9)

    def score(decoder) -> tuple[float, float, float]:
        hyps, start = [], time.process_time()
        for lp in posteriors:
            found = decoder.decode(lp)
            hyps.append(" ".join(found[0].text.split()) if found else "")
        return wer(refs, hyps), cer(refs, hyps), (time.process_time() - start) / audio_seconds

    names = ("lm_weight", "word_bonus", "beam_size", "unk_penalty")
    now = (recognizer.lm_weight, recognizer.word_bonus, beam_size or recognizer.beam_size, recognizer.unk_penalty)
    settings = [(w, b, k, u) for k in beams for u in unks for w in lm_weights for b in word_bonuses]
    if now not in settings:
        settings.append(now)
    grid = []
    for setting in tqdm(settings, desc="decoder grid", disable=not progress, leave=False):
        cell = dict(zip(names, setting))
        decoder = BeamSearchDecoder(recognizer.alphabet, lm=recognizer.lm, n_best=1, **cell)
        cell["wer"], cell["cer"], cell["decode_rtf"] = score(decoder)
        grid.append(cell)

    def distance(cell) -> float:
        return abs(cell["lm_weight"] - now[0]) + abs(cell["word_bonus"] - now[1]) + abs(cell["unk_penalty"] - now[3])

    # Lowest WER, then CER; ties go to the setting closest to the current one (no change without evidence).
    best = min(grid, key=lambda g: (round(g["wer"], 9), round(g["cer"], 9), distance(g), g["beam_size"]))
    greedy_wer, greedy_cer, _ = score(GreedyDecoder(recognizer.alphabet))
    current = next(g for g in grid if tuple(g[n] for n in names) == now)
    return {"best": dict(best), "grid": grid, "n_utts": len(entries), "beam_size": best["beam_size"],
            "greedy": {"wer": greedy_wer, "cer": greedy_cer}, "current": dict(current)}


# ============================================================================ helpers of the loop


def _resolve_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"device {name!r}; valid choices: 'auto', 'cpu', 'cuda', 'cuda:N'")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    if name == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(name)


def _lr_factor(config: TrainConfig, total_steps: int):
    def f(step: int) -> float:
        if config.warmup_steps and step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        after = step - config.warmup_steps
        if config.schedule == "constant":
            return 1.0
        if config.schedule == "exponential":
            return max(config.min_lr_ratio, config.decay_gamma ** (after / max(1, config.decay_steps)))
        span = max(1, total_steps - config.warmup_steps)
        progress = min(1.0, after / span)
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return f


def _atomic_save(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _inference_checkpoint(model, feature_config, alphabet, metrics: dict) -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "acoustic_config": model.config.to_dict(),
        "feature_config": feature_config.to_dict(),
        "alphabet": alphabet.to_list(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "metrics": metrics,
    }


def _load_train_data(config: TrainConfig, alphabet, stride: int, rank: int,
                     silent_start: int = 0) -> tuple[list[ManifestEntry], list[float]]:
    entries: list[ManifestEntry] = []
    weights: list[float] = []
    mweights = config.train_weights or [1.0] * len(config.train_manifests)
    for path, w in zip(config.train_manifests, mweights):
        es = read_manifest(path, alphabet=alphabet, max_duration=config.max_utt_seconds)
        kept = []
        too_short = 0
        for e in es:
            frames_out = int(e.duration * 100) // max(1, stride) - silent_start  # approximate usable output frames
            if ctc_min_frames(alphabet.encode(e.text)) > frames_out:
                too_short += 1
                continue
            kept.append(e)
        if rank == 0:
            hours = sum(e.duration for e in kept) / 3600
            logger.info("train manifest %s: %d utterances, %.2f h, weight %.2f%s", path, len(kept), hours, w,
                        f" ({too_short} dropped: text longer than the output frames)" if too_short else "")
        entries.extend(kept)
        weights.extend([float(w) * config.corpus_weights.get(e.corpus or "", 1.0) for e in kept])
    if not entries:
        raise ValueError(f"no training utterances in {config.train_manifests}")
    corpora = {e.corpus or "" for e in entries}
    unknown = sorted(set(config.corpus_weights) - corpora)
    if unknown:
        raise ValueError(f"corpus_weights names {unknown}, not a corpus of the train manifests "
                         f"(they hold: {sorted(c for c in corpora if c)})")
    if config.corpus_weights and rank == 0:
        for c in sorted(config.corpus_weights):
            hours = sum(e.duration * w for e, w in zip(entries, weights) if (e.corpus or "") == c) / 3600
            logger.info("corpus %s: weight x%.2f, %.2f weighted hours per epoch", c, config.corpus_weights[c], hours)
    return entries, weights


def _feature_stats(ds: SpeechDataset, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = random.Random(seed)
    idx = rng.sample(range(len(ds)), min(n, len(ds)))
    total = None
    sq = None
    count = 0
    for i in idx:
        f = ds.extractor(ds.load(i, augment=False)).double()  # (T, F)
        if f.shape[0] == 0:
            continue
        total = f.sum(0) if total is None else total + f.sum(0)
        sq = (f * f).sum(0) if sq is None else sq + (f * f).sum(0)
        count += f.shape[0]
    if count == 0:
        raise ValueError("training audio too short to compute feature statistics")
    mean = total / count
    std = (sq / count - mean * mean).clamp_min(1e-8).sqrt()
    return mean.float(), std.float()


def _param_checksum(model) -> float:
    return float(sum(p.detach().double().sum().item() for p in model.parameters()))


class _SpeedMeter:
    """Where the training loop's time goes: waiting for the next batch vs the training step, the step's
    CPU time, and the padding the batches carry. Evaluations and checkpoints count in neither."""

    KEYS = ("steps", "items", "audio_seconds", "manifest_seconds", "wall_seconds", "data_wait_seconds",
            "step_seconds", "main_cpu_seconds", "real_frames", "padded_frames")

    def __init__(self) -> None:
        self.total = dict.fromkeys(self.KEYS, 0.0)
        self.window = dict.fromkeys(self.KEYS, 0.0)
        self._t = self._cpu = None
        self._t_step = 0.0

    def start(self) -> None:
        """The loop begins waiting for a batch."""
        self._t, self._cpu = time.perf_counter(), time.process_time()

    def got_batch(self, batch, durations: Sequence[float]) -> None:
        now = time.perf_counter()
        if self._t is None:
            self._t, self._cpu = now, time.process_time()
        lengths = batch.feat_lengths
        self._add(data_wait_seconds=now - self._t, steps=1, items=len(batch), audio_seconds=batch.seconds,
                  manifest_seconds=float(sum(durations[i] for i in batch.indices)),
                  real_frames=float(lengths.sum()), padded_frames=float(batch.feats.shape[0] * batch.feats.shape[1]))
        self._t_step = now

    def stepped(self) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self._add(step_seconds=now - self._t_step, wall_seconds=now - self._t, main_cpu_seconds=cpu - self._cpu)
        self._t = self._cpu = None

    def _add(self, **values: float) -> None:
        for k, v in values.items():
            self.total[k] += v
            self.window[k] += v

    def window_summary(self) -> str:
        """'data wait 3%, padding 8%' over the steps since the last call; starts a new window."""
        w = self.window
        text = (f"data wait {100 * w['data_wait_seconds'] / max(w['wall_seconds'], 1e-9):.0f}%, "
                f"padding {100 * (1 - w['real_frames'] / max(w['padded_frames'], 1.0)):.0f}%")
        self.window = dict.fromkeys(self.KEYS, 0.0)
        return text

    def save(self, path: Path) -> None:
        t = self.total
        summary = {"audio_s_per_s": t["audio_seconds"] / max(t["wall_seconds"], 1e-9),
                   "audio_s_per_main_cpu_s": t["audio_seconds"] / max(t["main_cpu_seconds"], 1e-9),
                   "data_wait_fraction": t["data_wait_seconds"] / max(t["wall_seconds"], 1e-9),
                   "padding_waste": 1 - t["real_frames"] / max(t["padded_frames"], 1.0)}
        with open(path, "w") as fh:
            json.dump({"total": t, "summary": summary}, fh, indent=1)


class _Stop:
    """Set by SIGTERM/SIGINT so the loop can write a checkpoint and leave."""

    def __init__(self):
        self.flag = False
        self.previous = {}

    def install(self):
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        for s in (signal.SIGTERM, signal.SIGINT):
            self.previous[s] = signal.signal(s, self._handle)

    def _handle(self, signum, frame):
        logger.warning("signal %d: stopping after this step (a checkpoint will be written)", signum)
        self.flag = True

    def restore(self):
        for s, h in self.previous.items():
            signal.signal(s, h)


# ============================================================================ the loop


def train(config: TrainConfig) -> Path:
    """Train (or resume) and return the path of the best inference checkpoint (``out_dir/best.pt``)."""
    from speech.features import FeatureConfig
    from speech.model import AcousticConfig, AcousticModel
    from speech.vocab import Alphabet
    from tqdm import tqdm

    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    distributed = world > 1
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _resolve_device(config.device, local_rank)
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls: a large speed-up, no visible loss for CTC
        torch.backends.cudnn.allow_tf32 = True
    if config.threads and config.threads > 0:
        torch.set_num_threads(config.threads)
    is_main = rank == 0

    out_dir = Path(config.out_dir)
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    latest_path, best_path = out_dir / "latest.pt", out_dir / "best.pt"

    # ---- resume state
    resume_ckpt = None
    if config.resume:
        rpath = latest_path if config.resume in (True, "auto") else Path(config.resume)
        if rpath.is_file():
            resume_ckpt = torch.load(rpath, map_location="cpu", weights_only=True)
            if resume_ckpt.get("format") != CHECKPOINT_FORMAT or "optimizer" not in resume_ckpt:
                raise ValueError(f"{rpath} is not a training checkpoint of this code (format "
                                 f"{resume_ckpt.get('format')!r}, keys {sorted(resume_ckpt)})")
        elif config.resume not in (True, "auto"):
            raise FileNotFoundError(f"resume checkpoint not found: {rpath}")

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed)

    alphabet = Alphabet()
    if resume_ckpt is not None:
        feature_config = FeatureConfig.from_dict(resume_ckpt["feature_config"])
        acoustic = AcousticConfig.from_dict(resume_ckpt["acoustic_config"])
        alphabet = Alphabet.from_list(resume_ckpt["alphabet"])
        differs = {k: (acoustic.to_dict().get(k), v) for k, v in config.model.items() if acoustic.to_dict().get(k) != v}
        if differs and is_main:
            logger.warning("resuming keeps the checkpoint's model config; ignoring requested changes %s "
                           "(checkpoint value, requested)", differs)
    else:
        feature_config = FeatureConfig.from_dict({**FeatureConfig().to_dict(), **config.features})
        mcfg = dict(config.model)
        mcfg.setdefault("n_mels", feature_config.n_mels)
        mcfg.setdefault("vocab_size", len(alphabet))
        mcfg.setdefault("input_frame_shift", feature_config.frame_shift_seconds)
        acoustic = AcousticConfig.from_dict({**AcousticConfig().to_dict(), **mcfg})
    if acoustic.n_mels != feature_config.n_mels or acoustic.vocab_size != len(alphabet):
        raise ValueError(f"model n_mels={acoustic.n_mels}/vocab_size={acoustic.vocab_size} do not match features "
                         f"n_mels={feature_config.n_mels}/alphabet size={len(alphabet)}")
    model = AcousticModel(acoustic)

    # ---- data
    entries, weights = _load_train_data(config, alphabet, acoustic.stride, rank, acoustic.silent_start)
    augment = _augment_config(config.augment)
    dataset = SpeechDataset(entries, alphabet, feature_config, augment=augment, seed=config.seed,
                            cache_mb=config.audio_cache_mb)
    # batches by augmented length: padding and speed changes would otherwise leave a fifth of the
    # frames the LSTM runs through as padding
    sampler = BucketBatchSampler(dataset.durations, config.batch_seconds, max_items=config.max_batch_items,
                                 weights=weights, bucket_size=config.bucket_size, seed=config.seed,
                                 num_replicas=world, rank=rank, tag_epoch=True,
                                 epoch_durations=dataset.planned_durations if augment is not None else None)
    dev_sets = {Path(p).stem: read_manifest(p, alphabet=alphabet) for p in config.dev_manifests} if is_main else {}

    if resume_ckpt is not None:
        model.load_state_dict(resume_ckpt["state_dict"])
    else:
        if config.init_from:
            init = torch.load(config.init_from, map_location="cpu", weights_only=True)
            model.load_state_dict(init["state_dict"])
            if is_main:
                logger.info("initialised weights from %s", config.init_from)
        else:
            mean, std = _feature_stats(dataset, config.norm_utts, config.seed)
            model.set_normalization(mean, std)
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    if config.preload_audio:
        t0 = time.time()
        n_cached = dataset.preload()
        if is_main:
            logger.info("preloaded %d of %d training utterances (%.0f MB decoded) in %.0f s", n_cached, len(dataset),
                        dataset._cached_bytes / 2**20, time.time() - t0)

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  betas=config.betas)
    total_steps = config.schedule_steps or config.max_steps or 20000
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config, total_steps))
    step = epoch = batch_in_epoch = 0
    best_score, best_step = float("inf"), -1
    audio_seen = 0.0
    if resume_ckpt is not None:
        optimizer.load_state_dict(resume_ckpt["optimizer"])
        scheduler.load_state_dict(resume_ckpt["scheduler"])
        step, epoch, batch_in_epoch = resume_ckpt["step"], resume_ckpt["epoch"], resume_ckpt["batch_in_epoch"]
        best_score = resume_ckpt.get("best_score", float("inf"))
        best_step = resume_ckpt.get("best_step", -1)
        audio_seen = resume_ckpt.get("audio_seconds_seen", 0.0)
        torch.set_rng_state(resume_ckpt["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in resume_ckpt:
            torch.cuda.set_rng_state(resume_ckpt["cuda_rng"], device)
        if is_main:
            logger.info("resumed from step %d (epoch %d, batch %d)", step, epoch, batch_in_epoch)

    train_model = model
    if distributed:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if is_main:
        logger.info("model: %s, %d parameters (%.1f MB fp32); device %s x %d; %d train utterances (%.2f h)",
                    acoustic.to_dict(), n_params, n_params * 4 / 2**20, device, world, len(entries),
                    sum(dataset.durations) / 3600)
        with open(out_dir / "config.json", "w") as fh:
            json.dump(config.to_dict(), fh, indent=1)

    loader_gen = torch.Generator()  # worker base seeds come from here, not the global RNG (exact resume)
    loader_gen.manual_seed(config.seed)

    def checkpoint(final: bool = False) -> None:
        state = {
            **_inference_checkpoint(model, feature_config, alphabet, {"step": step, "best_score": best_score}),
            "train_config": config.to_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "best_score": best_score,
            "best_step": best_step,
            "audio_seconds_seen": audio_seen,
            "torch_rng": torch.get_rng_state(),
        }
        if device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(device)
        _atomic_save(state, latest_path)
        logger.info("step %d: wrote %s%s", step, latest_path, " (final)" if final else "")

    def run_eval() -> None:
        nonlocal best_score, best_step
        metrics: dict[str, Any] = {"step": step, "audio_hours_seen": audio_seen / 3600, "params": n_params}
        if dev_sets:
            scores = []
            for name, es in dev_sets.items():
                r = evaluate(model, es, alphabet=alphabet, feature_config=feature_config, device=device,
                             max_utts=config.eval_max_utts)
                metrics[name] = {k: r[k] for k in ("wer", "cer", "n_utts")}
                scores.append(r["wer"])
                logger.info("step %d dev %s: WER %.2f%% CER %.2f%% (%d utts) e.g. %r -> %r", step, name,
                            100 * r["wer"], 100 * r["cer"], r["n_utts"], *(r["examples"][0] if r["examples"] else ("", "")))
            score = float(np.mean(scores))
            metrics["wer"] = score
            metrics["cer"] = float(np.mean([metrics[n]["cer"] for n in dev_sets]))
        else:
            score = -float(step)  # no dev data: the latest is the best
        with open(out_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(metrics) + "\n")
        if score <= best_score:
            best_score, best_step = score, step
            metrics["best"] = True
            _atomic_save(_inference_checkpoint(model, feature_config, alphabet, metrics), best_path)
            logger.info("step %d: new best (mean dev WER %.4f) -> %s", step, score, best_path)

    stopper = _Stop()
    stopper.install()
    t_start = time.time()
    last_ckpt = last_eval = time.time()
    window = {"loss": 0.0, "n": 0, "seconds": 0.0, "skipped": 0, "dropped": 0, "t": time.time(), "norm": 0.0}
    bar = tqdm(total=config.max_steps, initial=step, desc="train", disable=not (config.progress and is_main),
               dynamic_ncols=True, mininterval=5.0 if sys.stderr.isatty() else 60.0)
    done = config.max_steps is not None and step >= config.max_steps
    # one loader for the whole run: persistent workers, the epoch travels with the indices
    loader = make_loader(dataset, sampler, num_workers=config.num_workers, pin_memory=device.type == "cuda",
                         generator=loader_gen, persistent_workers=config.num_workers > 0)
    speed = _SpeedMeter()
    durations = dataset.durations
    try:
        while not done and epoch < config.epochs:
            sampler.set_epoch(epoch, batch_in_epoch)
            dataset.set_epoch(epoch)
            speed.start()
            for batch in loader:
                speed.got_batch(batch, durations)
                batch = batch.to(device)
                res = train_step(train_model, batch, optimizer, grad_clip=config.grad_clip, amp=config.amp,
                                 distributed=distributed)
                speed.stepped()
                scheduler.step()
                step += 1
                batch_in_epoch += 1
                seconds = batch.seconds * world
                audio_seen += seconds
                window["seconds"] += seconds
                window["dropped"] += res.dropped
                if res.skipped:
                    window["skipped"] += 1
                    if is_main:
                        logger.warning("step %d: skipped batch (%s; loss %s, grad norm %s)", step, res.reason,
                                       res.loss, res.grad_norm)
                else:
                    window["loss"] += res.loss
                    window["norm"] += res.grad_norm
                    window["n"] += 1
                bar.update(1)
                if is_main and not res.skipped:
                    bar.set_postfix(loss=f"{res.loss:.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}", refresh=False)
                if is_main and step % config.log_every == 0:
                    dt = time.time() - window["t"]
                    n = max(1, window["n"])
                    logger.info("step %d epoch %d: loss %.4f grad %.2f lr %.2e | %.1f audio s/s (%s) | skipped %d "
                                "dropped %d | %.2f h audio seen, %.1f min", step, epoch, window["loss"] / n,
                                window["norm"] / n, scheduler.get_last_lr()[0], window["seconds"] / max(dt, 1e-9),
                                speed.window_summary(), window["skipped"], window["dropped"], audio_seen / 3600,
                                (time.time() - t_start) / 60)
                    window.update(loss=0.0, n=0, seconds=0.0, skipped=0, dropped=0, t=time.time(), norm=0.0)
                stop = stopper.flag or (config.max_steps is not None and step >= config.max_steps) or \
                    (config.max_hours is not None and time.time() - t_start > config.max_hours * 3600)
                if distributed:
                    flag = torch.tensor([1.0 if stop else 0.0], device=device)
                    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                    stop = bool(flag.item() > 0)
                if is_main:
                    due_eval = (config.eval_every and step % config.eval_every == 0) or \
                        (config.eval_minutes is not None and time.time() - last_eval > config.eval_minutes * 60)
                    if due_eval and not stop:
                        run_eval()
                        last_eval = time.time()
                    due_ckpt = time.time() - last_ckpt > config.checkpoint_minutes * 60 or \
                        (config.checkpoint_every and step % config.checkpoint_every == 0)
                    if due_ckpt and not stop:
                        checkpoint()
                        last_ckpt = time.time()
                if stop:
                    done = True
                    break
                speed.start()
            else:
                epoch += 1
                batch_in_epoch = 0
        if is_main:
            speed.save(out_dir / "speed.json")
            run_eval()
            checkpoint(final=True)
        if distributed:
            sums = [None] * world
            dist.all_gather_object(sums, _param_checksum(model))
            if is_main:
                agree = all(abs(s - sums[0]) <= 1e-6 * max(1.0, abs(sums[0])) for s in sums)
                logger.info("ranks agree on the weights: %s (%s)", agree, sums)
                ck = torch.load(best_path, map_location="cpu", weights_only=True)
                ck["metrics"] = {**ck["metrics"], "world_size": world, "ranks_agree": agree}
                _atomic_save(ck, best_path)
            dist.barrier()
    finally:
        bar.close()
        stopper.restore()
        if distributed and dist.is_initialized():
            dist.destroy_process_group()
    return best_path


# ============================================================================ command line


def _parse_weighted(items: Sequence[str]) -> tuple[list[str], list[float]]:
    """["a.jsonl:3", "b.jsonl"] -> (["a.jsonl", "b.jsonl"], [3.0, 1.0])."""
    paths, weights = [], []
    for it in items:
        path, w = it, 1.0
        head, sep, tail = it.rpartition(":")
        if sep and head:
            try:
                w, path = float(tail), head
            except ValueError:
                pass
        paths.append(path)
        weights.append(w)
    return paths, weights


def _parse_corpus_weights(text: str) -> dict[str, float]:
    """"a=8,b=0.5" -> {"a": 8.0, "b": 0.5}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--corpus-weights wants CORPUS=NUMBER pairs separated by commas, got {part!r}") from None
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train-speech", description="Train the CTC acoustic model.")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help="starting configuration")
    p.add_argument("--train", nargs="+", default=[], metavar="MANIFEST[:WEIGHT]",
                   help="training manifests, each with an optional sampling weight (real.jsonl:3)")
    p.add_argument("--corpus-weights", default=None, metavar="CORPUS=W,...",
                   help="extra weight per corpus field of the manifest lines (speech_commands=8,kathleen=1.2)")
    p.add_argument("--dev", nargs="*", default=[], metavar="MANIFEST", help="dev manifests for WER/CER")
    p.add_argument("--out", default=None, help="output directory (default runs/speech)")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--max-hours", type=float, default=None)
    p.add_argument("--schedule-steps", type=int, default=None, help="steps the cosine decay spans")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps")
    p.add_argument("--batch-seconds", type=float, default=None)
    p.add_argument("--silent-start", type=int, default=None, dest="silent_start", metavar="FRAMES",
                   help="output frames at the start of each utterance forced to blank (AcousticConfig.silent_start)")
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--stack", type=int, default=None)
    p.add_argument("--stride", type=int, default=None)
    p.add_argument("--cell", default=None, choices=["lstm", "gru", "lstm_peephole"])
    p.add_argument("--no-augment", action="store_true", help="turn every augmentation off")
    p.add_argument("--augment", default=None, help="JSON object of AugmentConfig overrides")
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--eval-minutes", type=float, default=None)
    p.add_argument("--checkpoint-minutes", type=float, default=None)
    p.add_argument("--log-every", type=int, default=None)
    p.add_argument("--resume", default=None, help="'auto' (default), a checkpoint path, or 'no'")
    p.add_argument("--init-from", default=None, help="start from these weights (new optimizer)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--workers", type=int, default=None, help="DataLoader worker processes")
    p.add_argument("--audio-cache-mb", type=float, default=None,
                   help="decoded training audio kept in memory per loading process (0 = decode every time)")
    p.add_argument("--preload-audio", action="store_true", help="decode the training audio before the first step")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=JSON", help="any other TrainConfig field")
    p.add_argument("--log-file", default=None, help="also append log lines here (default OUT/train.log)")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    over: dict[str, Any] = {}
    if args.train:
        paths, weights = _parse_weighted(args.train)
        over["train_manifests"] = paths
        over["train_weights"] = weights
    if args.corpus_weights:
        over["corpus_weights"] = _parse_corpus_weights(args.corpus_weights)
    if args.dev:
        over["dev_manifests"] = args.dev
    simple = {"out": "out_dir", "max_steps": "max_steps", "max_hours": "max_hours", "schedule_steps": "schedule_steps",
              "epochs": "epochs", "lr": "lr", "warmup": "warmup_steps", "batch_seconds": "batch_seconds",
              "eval_every": "eval_every", "eval_minutes": "eval_minutes", "checkpoint_minutes": "checkpoint_minutes",
              "log_every": "log_every", "init_from": "init_from", "device": "device", "threads": "threads",
              "workers": "num_workers", "seed": "seed", "audio_cache_mb": "audio_cache_mb"}
    for a, f in simple.items():
        v = getattr(args, a)
        if v is not None:
            over[f] = v
    if args.resume is not None:
        over["resume"] = False if args.resume in ("no", "false", "0") else ("auto" if args.resume == "auto" else args.resume)
    model = {k: getattr(args, k) for k in ("hidden", "layers", "stack", "stride", "cell", "silent_start") if getattr(args, k) is not None}
    if model:
        over["model"] = model
    if args.no_augment:
        over["augment"] = {"off": True}
    elif args.augment:
        over["augment"] = json.loads(args.augment)
    if args.amp:
        over["amp"] = True
    if args.preload_audio:
        over["preload_audio"] = True
    if args.no_progress:
        over["progress"] = False
    for item in args.set:
        k, _, v = item.partition("=")
        if not _:
            raise ValueError(f"--set expects FIELD=JSON, got {item!r}")
        try:
            over[k] = json.loads(v)
        except json.JSONDecodeError:
            over[k] = v
    return make_config(args.preset, **over)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m speech.train --preset default --train real.jsonl:3 synth.jsonl --dev dev.jsonl``."""
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        build_parser().error(str(exc))
    if not config.train_manifests:
        build_parser().error("--train needs at least one manifest")
    rank = int(os.environ.get("RANK", "0"))
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if rank == 0:
        Path(config.out_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(args.log_file or Path(config.out_dir) / "train.log"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, handlers=handlers,
                        format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s")
    try:
        best = train(config)
    except (ValueError, FileNotFoundError) as exc:  # bad manifests or settings: one line, not a traceback
        print(f"train-speech: error: {exc}", file=sys.stderr)
        return 2
    if rank == 0:
        print(best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
