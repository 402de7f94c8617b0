"""Training data: JSON Lines manifests, the speech dataset, length-bucketed batches and padding.

A manifest line is a JSON object::

    {"audio": "clips/a.flac", "text": "turn the lights on", "duration": 1.93, "speaker": "s1", "corpus": "mine"}

``audio`` is relative to the manifest file (or absolute); ``duration`` is in seconds; ``speaker`` and
``corpus`` are optional. Text is normalised with :func:`speech.vocab.normalize_text` on reading.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from speech.augment import AugmentConfig, Augmenter

__all__ = [
    "ManifestEntry",
    "read_manifest",
    "write_manifest",
    "SpeechDataset",
    "BucketBatchSampler",
    "Batch",
    "collate",
    "make_loader",
    "ctc_min_frames",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ManifestEntry:
    """One utterance of a manifest, with its audio path resolved."""

    audio: str  # absolute path of the audio file
    text: str  # normalised transcript (lowercase, alphabet characters only)
    duration: float  # seconds
    speaker: str | None = None  # speaker or voice id, if known
    corpus: str | None = None  # corpus name, if known
    source: str = ""  # "manifest:line" it came from (for messages)


def read_manifest(path: str | os.PathLike, *, normalize: bool = True, alphabet=None, check_files: bool = True,
                  max_duration: float | None = None) -> list[ManifestEntry]:
    """Read and validate a JSON Lines manifest.

    Bad lines raise ``ValueError("FILE:LINE: problem")``. Blank lines are skipped. With ``alphabet`` the
    (normalised) text must be encodable. Entries longer than ``max_duration`` seconds are left out (logged).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    base = path.resolve().parent
    if normalize:
        from speech.vocab import normalize_text
    entries: list[ManifestEntry] = []
    too_long = 0
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            where = f"{path}:{lineno}"
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
            missing = [k for k in ("audio", "text", "duration") if k not in obj]
            if missing:
                raise ValueError(f"{where}: missing field(s) {missing}; required: ['audio', 'text', 'duration']")
            audio, text, duration = obj["audio"], obj["text"], obj["duration"]
            if not isinstance(audio, str) or not audio:
                raise ValueError(f"{where}: 'audio' must be a non-empty string, got {audio!r}")
            if not isinstance(text, str):
                raise ValueError(f"{where}: 'text' must be a string, got {text!r}")
            if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration) \
                    or duration <= 0:
                raise ValueError(f"{where}: 'duration' must be a positive number of seconds, got {duration!r}")
            apath = Path(audio)
            if not apath.is_absolute():
                apath = Path(os.path.normpath(base / apath))
            if check_files and not apath.is_file():
                raise ValueError(f"{where}: audio file not found: {apath}")
            if normalize:
                try:
                    text = normalize_text(text)
                except ValueError as e:
                    raise ValueError(f"{where}: cannot normalise text {obj['text']!r}: {e}") from None
            if alphabet is not None:
                try:
                    alphabet.encode(text)
                except ValueError as e:
                    raise ValueError(f"{where}: {e}") from None
            if max_duration is not None and duration > max_duration:
                too_long += 1
                continue
            speaker, corpus = obj.get("speaker"), obj.get("corpus")
            entries.append(ManifestEntry(str(apath), text, float(duration),
                                         None if speaker is None else str(speaker),
                                         None if corpus is None else str(corpus), where))
    if too_long:
        logger.info("%s: left out %d utterances longer than %.1f s", path, too_long, max_duration)
    return entries


def write_manifest(path: str | os.PathLike, entries: Iterable[ManifestEntry | dict], relative: bool = True) -> int:
    """Write entries as JSON Lines (audio paths relative to the manifest when ``relative``). Returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.resolve().parent
    n = 0
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for e in entries:
            d = dict(e) if isinstance(e, dict) else {"audio": e.audio, "text": e.text, "duration": e.duration,
                                                     "speaker": e.speaker, "corpus": e.corpus}
            d = {k: v for k, v in d.items() if v is not None and k != "source"}
            if relative:
                a = Path(d["audio"])
                if a.is_absolute():
                    try:
                        d["audio"] = os.path.relpath(a, base)
                    except ValueError:  # another drive (Windows)
                        pass
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def ctc_min_frames(labels: Sequence[int]) -> int:
    """Fewest output frames CTC needs for ``labels``: one per label plus a blank between repeated labels."""
    return len(labels) + sum(1 for a, b in zip(labels, labels[1:]) if a == b)


class SpeechDataset(Dataset):
    """Loads audio, augments it, computes log-mel features and encodes the text.

    Item ``i`` -> dict(feats (T, n_mels) float32, labels (L,) long, text, index, duration). The randomness of
    item ``i`` in epoch ``e`` comes from ``numpy.random.default_rng([seed, e, i])``, so results do not depend on
    worker processes or order, and a resumed run sees the same augmentation.
    """

    def __init__(self, entries: Sequence[ManifestEntry], alphabet, feature_config=None,
                 augment: AugmentConfig | None = None, seed: int = 0, cache_mb: float = 0.0):
        """``cache_mb``: keep up to this many MB of decoded audio in memory (least recently used goes
        first), so later epochs skip decoding and resampling; 0 turns the cache off. Each process that
        loads (the training process or each DataLoader worker) has its own."""
        from speech.features import FeatureConfig, FeatureExtractor

        self.entries = list(entries)
        self.alphabet = alphabet
        self.feature_config = feature_config or FeatureConfig()
        self.extractor = FeatureExtractor(self.feature_config)
        self.augmenter = (Augmenter(augment, self.feature_config.sample_rate,
                                    (self.feature_config.f_min, self.feature_config.f_max))
                          if augment is not None else None)
        self.seed = int(seed)
        self.epoch = 0
        self._labels = [alphabet.encode(e.text) for e in self.entries]
        if cache_mb < 0:
            raise ValueError(f"cache_mb must be >= 0, got {cache_mb}")
        self.cache_bytes = int(cache_mb * 2**20)
        self._audio_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cached_bytes = 0
        self._planned: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def durations(self) -> list[float]:
        return [e.duration for e in self.entries]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def labels(self, i: int) -> list[int]:
        return self._labels[i]

    def audio(self, i: int) -> np.ndarray:
        """Decoded samples of item ``i`` (read-only; from the cache when there)."""
        from speech.audio import load_audio

        x = self._audio_cache.get(i)
        if x is not None:
            self._audio_cache.move_to_end(i)
            return x
        x = load_audio(self.entries[i].audio)
        x.flags.writeable = False  # shared with later epochs: nothing may change it in place
        if 0 < x.nbytes <= self.cache_bytes:
            self._audio_cache[i] = x
            self._cached_bytes += x.nbytes
            while self._cached_bytes > self.cache_bytes:
                _, old = self._audio_cache.popitem(last=False)
                self._cached_bytes -= old.nbytes
        return x

    def preload(self) -> int:
        """Decode items into the cache, in order, while it has room; returns how many are cached.

        Done before DataLoader workers start, the workers share the decoded audio (copy-on-write pages)
        instead of each decoding and holding its own copy, and the first epoch runs at full speed."""
        for i, e in enumerate(self.entries):
            need = int(round(e.duration * self.feature_config.sample_rate)) * 4
            if self._cached_bytes + need > self.cache_bytes:
                break
            self.audio(i)
        return len(self._audio_cache)

    def load(self, i: int, augment: bool = True, epoch: int | None = None, copy: int = 0) -> np.ndarray:
        x = self.audio(i)
        if augment and self.augmenter is not None:
            x = self.augmenter(x, self._rng(i, 0, epoch, copy), plan=self._plan(i, epoch))
        return x if x.flags.writeable else x.copy()

    def _plan(self, i: int, epoch: int | None = None):
        return self.augmenter.plan(self._rng(i, 2, epoch))

    def planned_durations(self, epoch: int) -> np.ndarray:
        """Seconds of every item after this epoch's augmentation (room-tone padding and speed change,
        computed from the manifest durations without loading audio): what a sampler should batch by."""
        if self._planned is not None and self._planned[0] == epoch:
            return self._planned[1]
        rate = self.feature_config.sample_rate
        if self.augmenter is None:
            out = np.array(self.durations, dtype=np.float64)
        else:
            out = np.array([self.augmenter.output_length(int(round(e.duration * rate)), self._plan(i, epoch)) / rate
                            for i, e in enumerate(self.entries)], dtype=np.float64)
        self._planned = (int(epoch), out)
        return out

    def _rng(self, i: int, stream: int, epoch: int | None = None, copy: int = 0) -> np.random.Generator:
        key = [self.seed, self.epoch if epoch is None else int(epoch), int(i), stream]
        return np.random.default_rng(key + [int(copy)] if copy else key)

    def __getitem__(self, key: int | tuple[int, int] | tuple[int, int, int]) -> dict:
        """``key`` is an index, or ``(epoch, index)`` / ``(epoch, index, copy)`` (what
        :class:`BucketBatchSampler` yields with ``tag_epoch=True``, so persistent worker processes see the
        epoch without being told). Copies of one item in one epoch (sampling weight above 1) get their own
        noise, pitch, reverberation, channel and masks; they share the padding and speed plan, so their
        length is the planned one."""
        copy = 0
        if isinstance(key, tuple):
            epoch, i, copy = key if len(key) == 3 else (*key, 0)
        else:
            epoch, i = self.epoch, key
        x = self.load(i, epoch=epoch, copy=copy)
        feats = self.extractor(x)  # (T, n_mels)
        if self.augmenter is not None:
            feats = self.augmenter.features(feats, self._rng(i, 1, epoch, copy))
        return {"feats": feats.float(), "labels": torch.tensor(self._labels[i], dtype=torch.long),
                "text": self.entries[i].text, "index": int(i), "duration": len(x) / self.feature_config.sample_rate}


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length under a padded-audio budget.

    Each epoch: the items (each repeated according to its sampling weight: weight 2.5 means twice, plus a
    third time with probability 0.5) are shuffled, cut into buckets of ``bucket_size`` items, sorted by
    duration inside each bucket and packed greedily into batches whose padded size (longest item x count)
    stays under ``max_seconds`` (and ``max_items``); then the batches are shuffled. Everything depends only on
    ``(seed, epoch)``, so all ranks of a distributed run build the same list and each takes every
    ``num_replicas``-th batch (padded by repeating batches so every rank gets the same count).
    ``set_epoch(epoch, start_batch)`` skips the first batches, for exact resume. With ``tag_epoch`` the
    batches hold ``(epoch, index)`` pairs, which :class:`SpeechDataset` understands. With ``epoch_durations``
    (``SpeechDataset.planned_durations``) sorting and budget use each epoch's augmented lengths: room-tone
    padding and speed changes otherwise spread a batch's lengths apart and its padding grows.
    """

    def __init__(self, durations: Sequence[float], max_seconds: float, *, max_items: int | None = None,
                 weights: Sequence[float] | None = None, bucket_size: int = 2000, shuffle: bool = True,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0, tag_epoch: bool = False,
                 epoch_durations: Callable[[int], Sequence[float]] | None = None):
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        if weights is not None and len(weights) != len(durations):
            raise ValueError(f"weights has {len(weights)} entries for {len(durations)} items")
        if weights is not None and any(w < 0 for w in weights):
            raise ValueError("sampling weights must be >= 0")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} not in [0, {num_replicas})")
        self.durations = np.asarray(durations, dtype=np.float64)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.max_seconds = float(max_seconds)
        self.max_items = max_items
        self.bucket_size = int(bucket_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.tag_epoch = tag_epoch  # yield (epoch, index) pairs instead of indices
        # epoch -> each item's length in that epoch (SpeechDataset.planned_durations: after augmentation);
        # sorting and the padded budget then use the lengths the model will really see
        self.epoch_durations = epoch_durations
        self.epoch = 0
        self.start_batch = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = int(epoch)
        self.start_batch = int(start_batch)

    def _epoch_items(self, rng: random.Random) -> list[int]:
        n = len(self.durations)
        if self.weights is None:
            items = list(range(n))
        else:
            items = []
            for i, w in enumerate(self.weights):
                k = int(w) + (1 if rng.random() < w - int(w) else 0)
                items.extend([i] * k)
        if self.shuffle:
            rng.shuffle(items)
        return items

    def all_batches(self) -> list[list[int]]:
        """The batches of the current epoch for all ranks (before sharding)."""
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        items = self._epoch_items(rng)
        durations = self.durations
        if self.epoch_durations is not None:
            durations = np.asarray(self.epoch_durations(self.epoch), dtype=np.float64)
            if durations.shape != self.durations.shape:
                raise ValueError(f"epoch_durations gave {durations.shape[0]} lengths for {len(self.durations)} items")
        batches: list[list[int]] = []
        for b0 in range(0, len(items), self.bucket_size):
            bucket = sorted(items[b0:b0 + self.bucket_size], key=lambda i: durations[i])
            cur: list[int] = []
            longest = 0.0
            for i in bucket:
                d = durations[i]
                new_longest = max(longest, d)
                full = cur and (new_longest * (len(cur) + 1) > self.max_seconds
                                or (self.max_items is not None and len(cur) >= self.max_items))
                if full:
                    batches.append(cur)
                    cur, new_longest = [], d
                cur.append(i)
                longest = new_longest
            if cur:
                batches.append(cur)
        if self.shuffle:
            rng.shuffle(batches)
        self._cache = (self.epoch, batches)
        return batches

    def _my_batches(self) -> list[list[int]]:
        return self._shard(self.all_batches())

    def _shard(self, batches: list[list]) -> list[list]:
        """This rank's share of the epoch's batches (padded by repeats so every rank runs as many)."""
        if self.num_replicas > 1 and batches:
            per_rank = math.ceil(len(batches) / self.num_replicas)
            total = per_rank * self.num_replicas
            padded = batches + [batches[k % len(batches)] for k in range(total - len(batches))]
            batches = padded[self.rank::self.num_replicas]
        return batches

    def __iter__(self) -> Iterator[list]:
        batches = self.all_batches()
        if self.tag_epoch:
            # the k-th repeat of an item in this epoch is tagged (epoch, i, k), so it is augmented anew;
            # counted over all ranks' batches from the epoch's first, so neither the rank nor a resume
            # changes a tag
            seen: dict[int, int] = {}
            tagged = []
            for b in batches:
                row = []
                for i in b:
                    k = seen.get(i, 0)
                    seen[i] = k + 1
                    row.append((self.epoch, i, k) if k else (self.epoch, i))
                tagged.append(row)
            batches = tagged
        return iter(self._shard(batches)[self.start_batch:])

    def __len__(self) -> int:
        return max(0, len(self._my_batches()) - self.start_batch)


@dataclass
class Batch:
    """A padded batch."""

    feats: torch.Tensor  # (B, T, F) float32, zero padded
    feat_lengths: torch.Tensor  # (B,) long
    labels: torch.Tensor  # (B, L) long, zero padded
    label_lengths: torch.Tensor  # (B,) long
    texts: list[str]
    indices: list[int]
    seconds: float  # total (unpadded) audio seconds

    def to(self, device) -> "Batch":
        return Batch(self.feats.to(device, non_blocking=True), self.feat_lengths.to(device),
                     self.labels.to(device, non_blocking=True), self.label_lengths.to(device),
                     self.texts, self.indices, self.seconds)

    def __len__(self) -> int:
        return len(self.texts)


def collate(items: Sequence[dict]) -> Batch:
    """Pad a list of dataset items into a :class:`Batch`."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    n_mels = items[0]["feats"].shape[1]
    tmax = max(int(it["feats"].shape[0]) for it in items)
    lmax = max(int(it["labels"].numel()) for it in items)
    feats = torch.zeros(len(items), tmax, n_mels, dtype=torch.float32)  # (B, T, F)
    labels = torch.zeros(len(items), max(lmax, 1), dtype=torch.long)  # (B, L)
    for b, it in enumerate(items):
        f, lab = it["feats"], it["labels"]
        feats[b, : f.shape[0]] = f
        labels[b, : lab.numel()] = lab
    return Batch(
        feats=feats,
        feat_lengths=torch.tensor([int(it["feats"].shape[0]) for it in items], dtype=torch.long),
        labels=labels,
        label_lengths=torch.tensor([int(it["labels"].numel()) for it in items], dtype=torch.long),
        texts=[it["text"] for it in items],
        indices=[it["index"] for it in items],
        seconds=float(sum(it["duration"] for it in items)),
    )


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def make_loader(dataset: SpeechDataset, sampler: BucketBatchSampler, num_workers: int = 1,
                prefetch_factor: int = 4, pin_memory: bool = False,
                generator: torch.Generator | None = None, persistent_workers: bool = False) -> DataLoader:
    """A DataLoader over ``sampler``'s batches; worker processes use one torch thread each.

    With ``persistent_workers`` the workers live across epochs: give the sampler ``tag_epoch=True`` so the
    items still get each epoch's augmentation.
    """
    kw = {}
    if num_workers > 0:
        kw = {"prefetch_factor": prefetch_factor, "worker_init_fn": _worker_init,
              "persistent_workers": persistent_workers}
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers,
                      pin_memory=pin_memory, generator=generator, **kw)
