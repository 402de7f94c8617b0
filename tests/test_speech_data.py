"""Manifests, the dataset, length bucketing and padding (speech/data.py)."""
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from speech.data import BucketBatchSampler, ManifestEntry, SpeechDataset, collate, ctc_min_frames, make_loader, \
    read_manifest, write_manifest

SR = 16000
LETTERS = "abcdefghijklmnopqrstuvwxyz'"


def letter_tone(ch: str, seconds: float = 0.09) -> np.ndarray:
    """A letter-specific two-tone chord (DTMF-like) with a smooth envelope."""
    i = LETTERS.index(ch)
    t = np.arange(int(seconds * SR)) / SR
    f1, f2 = 300.0 + 110.0 * i, 3300.0 + 140.0 * (i % 9) + 37.0 * i
    env = np.sin(np.pi * t / seconds) ** 0.5
    return (0.3 * env * (np.sin(2 * np.pi * f1 * t) + 0.6 * np.sin(2 * np.pi * f2 * t))).astype(np.float32)


def synth_speech(text: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Generated "speech": a tone per letter, short gaps between letters, pauses for spaces."""
    gap = np.zeros(int(0.03 * SR), np.float32)
    pause = np.zeros(int(0.15 * SR), np.float32)
    parts = [pause]
    for ch in text:
        parts.append(pause if ch == " " else np.concatenate([letter_tone(ch), gap]))
    parts.append(pause)
    x = np.concatenate(parts)
    if rng is not None:
        x = x + 0.003 * rng.standard_normal(len(x)).astype(np.float32)
    return x.astype(np.float32)


def make_corpus(tmp_path, texts, name="train.jsonl", seed=0):
    """Write generated utterances as wav files and a manifest; return the manifest path."""
    rng = np.random.default_rng(seed)
    (tmp_path / "wav").mkdir(exist_ok=True)
    lines = []
    for k, text in enumerate(texts):
        x = synth_speech(text, rng)
        rel = f"wav/{name.split('.')[0]}_{k}.wav"
        soundfile.write(tmp_path / rel, x, SR)
        lines.append(json.dumps({"audio": rel, "text": text, "duration": round(len(x) / SR, 3), "speaker": "tone"}))
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_manifest_resolves_and_normalises(tmp_path):
    path = make_corpus(tmp_path, ["abc", "bad cab"])
    # an extra line with upper case and an absolute path
    wav = tmp_path / "wav" / "train_0.wav"
    with open(path, "a") as fh:
        fh.write("\n" + json.dumps({"audio": str(wav), "text": "Cab, BAD!", "duration": 1.0, "corpus": "x"}) + "\n")
    entries = read_manifest(path)
    assert [e.text for e in entries] == ["abc", "bad cab", "cab bad"]
    assert all(e.audio.startswith(str(tmp_path)) for e in entries)
    assert entries[2].corpus == "x" and entries[0].speaker == "tone"
    assert entries[1].source.endswith("train.jsonl:2")


@pytest.mark.parametrize("line, message", [
    ("{not json", "not valid JSON"),
    ('["a"]', "expected a JSON object"),
    ('{"audio": "wav/train_0.wav", "text": "abc"}', "missing field"),
    ('{"audio": "wav/train_0.wav", "text": "abc", "duration": -1}', "duration"),
    ('{"audio": "wav/train_0.wav", "text": "abc", "duration": "long"}', "duration"),
    ('{"audio": "wav/nope.wav", "text": "abc", "duration": 1}', "audio file not found"),
    ('{"audio": "wav/train_0.wav", "text": 5, "duration": 1}', "'text' must be a string"),
])
def test_bad_manifest_lines_name_file_and_line(tmp_path, line, message):
    path = make_corpus(tmp_path, ["abc"])
    with open(path, "a") as fh:
        fh.write(line + "\n")
    with pytest.raises(ValueError, match=message) as err:
        read_manifest(path)
    assert f"{path}:2:" in str(err.value)


def test_alphabet_check_and_missing_manifest(tmp_path):
    from speech.vocab import Alphabet

    path = make_corpus(tmp_path, ["abc"])
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "missing.jsonl")
    alphabet = Alphabet(["<blank>", "a", "b"])  # no "c"
    with pytest.raises(ValueError, match=r"train\.jsonl:1"):
        read_manifest(path, alphabet=alphabet)


def test_write_manifest_round_trip(tmp_path):
    path = make_corpus(tmp_path, ["abc", "cab"])
    entries = read_manifest(path)
    out = tmp_path / "sub" / "copy.jsonl"
    assert write_manifest(out, entries) == 2
    assert json.loads(out.read_text().splitlines()[0])["audio"] == "../wav/train_0.wav"
    again = read_manifest(out)
    assert [(e.audio, e.text, e.duration) for e in again] == [(e.audio, e.text, e.duration) for e in entries]


def test_bucketing_covers_every_item_once():
    rng = np.random.default_rng(0)
    durations = rng.uniform(0.5, 12.0, size=503).tolist()
    sampler = BucketBatchSampler(durations, max_seconds=40.0, max_items=16, bucket_size=100, seed=3)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(503))
        for b in batches:
            longest = max(durations[i] for i in b)
            assert len(b) <= 16 and (len(b) == 1 or longest * len(b) <= 40.0)
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first  # reshuffled per epoch
    sampler.set_epoch(0, start_batch=5)
    assert list(sampler) == first[5:]  # resume inside an epoch


def test_bucketing_weights_and_ranks():
    durations = [1.0] * 10 + [2.0] * 10
    weights = [3.0] * 10 + [1.0] * 10
    counts = Counter(i for b in BucketBatchSampler(durations, 8.0, weights=weights, seed=1) for i in b)
    assert all(counts[i] == 3 for i in range(10)) and all(counts[i] == 1 for i in range(10, 20))
    ranks = [list(BucketBatchSampler(durations, 8.0, seed=1, num_replicas=2, rank=r)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1])
    assert set(i for r in ranks for b in r for i in b) == set(range(20))
    with pytest.raises(ValueError, match="max_seconds"):
        BucketBatchSampler(durations, 0.0)


def test_dataset_collate_and_loader(tmp_path):
    from speech.augment import AugmentConfig
    from speech.features import FeatureConfig
    from speech.vocab import Alphabet

    path = make_corpus(tmp_path, ["abc", "bad cab", "a"])
    alphabet = Alphabet()
    ds = SpeechDataset(read_manifest(path), alphabet, FeatureConfig(n_mels=40), augment=AugmentConfig(), seed=1)
    item = ds[1]
    assert item["feats"].shape[1] == 40 and item["feats"].dtype == torch.float32
    assert alphabet.decode(item["labels"].tolist()) == "bad cab"
    assert torch.equal(ds[1]["feats"], item["feats"])  # same (seed, epoch, index) -> same augmentation
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["feats"], item["feats"])
    batch = collate([ds[i] for i in range(3)])
    assert batch.feats.shape[0] == 3 and batch.feats.shape[1] == int(batch.feat_lengths.max())
    assert batch.labels.shape == (3, 7) and batch.label_lengths.tolist() == [3, 7, 1]
    assert batch.feats[2, int(batch.feat_lengths[2]):].abs().sum() == 0  # zero padding
    sampler = BucketBatchSampler(ds.durations, 10.0, seed=0)
    seen = [i for b in make_loader(ds, sampler, num_workers=0) for i in b.indices]
    assert sorted(seen) == [0, 1, 2]


def test_ctc_min_frames():
    assert ctc_min_frames([1, 2, 3]) == 3
    assert ctc_min_frames([1, 1, 2, 2, 2]) == 8
    assert ctc_min_frames([]) == 0


def test_audio_cache_returns_the_same_audio_and_stays_in_its_budget(tmp_path):
    from speech.audio import load_audio
    from speech.augment import AugmentConfig
    from speech.vocab import Alphabet

    path = make_corpus(tmp_path, ["abc", "bad cab", "a", "face"])
    entries = read_manifest(path)
    sizes = [load_audio(e.audio).nbytes for e in entries]
    budget = sizes[0] + sizes[1] + 1  # room for the first two only
    ds = SpeechDataset(entries, Alphabet(), augment=AugmentConfig(), seed=1, cache_mb=budget / 2**20)
    plain = SpeechDataset(entries, Alphabet(), augment=AugmentConfig(), seed=1)
    first = [ds[i]["feats"] for i in range(4)]
    assert all(torch.equal(a, plain[i]["feats"]) for i, a in enumerate(first))  # the cache changes nothing
    assert ds._cached_bytes <= budget and 3 in ds._audio_cache and len(ds._audio_cache) < 4  # LRU goes first
    for i in range(4):
        assert np.array_equal(ds.audio(i), load_audio(entries[i].audio))
        assert not ds.audio(i).flags.writeable  # augmentation cannot change the cached copy in place
        assert ds.load(i, augment=False).flags.writeable
    assert all(torch.equal(ds[i]["feats"], first[i]) for i in range(4))  # same after cache hits
    full = SpeechDataset(entries[1:], Alphabet(), cache_mb=1.0)
    assert full.preload() == 3 and full._cached_bytes == sum(sizes[1:])  # preloading stops at the budget
    assert SpeechDataset(entries[1:], Alphabet(), cache_mb=(sizes[1] + 100) / 2**20).preload() == 1
    assert SpeechDataset(entries[1:], Alphabet()).preload() == 0
    cached = next(iter(ds._audio_cache))
    before = ds.audio(cached)
    Path(entries[cached].audio).unlink()  # a cache hit does not read the file
    assert np.array_equal(ds.audio(cached), before)
    with pytest.raises(ValueError, match="cache_mb"):
        SpeechDataset(entries, Alphabet(), cache_mb=-1)


def test_planned_durations_are_the_augmented_lengths(tmp_path):
    from speech.augment import AugmentConfig
    from speech.vocab import Alphabet

    path = make_corpus(tmp_path, ["abc", "bad cab", "a", "face", "cede a bead"])
    entries = [ManifestEntry(e.audio, e.text, e.duration) for e in read_manifest(path)]
    cfg = AugmentConfig(pad_prob=0.7, pad_seconds=(0.1, 0.6), speed_prob=0.8, speeds=(0.9, 1.1), pitch_prob=0.3)
    ds = SpeechDataset(entries, Alphabet(), augment=cfg, seed=4)
    for epoch in range(3):
        planned = ds.planned_durations(epoch)
        for i in range(len(ds)):
            assert len(ds.load(i, epoch=epoch)) == round(planned[i] * SR)
    assert not np.array_equal(ds.planned_durations(0), ds.planned_durations(1))
    off = SpeechDataset(entries, Alphabet(), augment=None)
    assert off.planned_durations(0).tolist() == off.durations


def test_bucketing_by_epoch_durations_keeps_every_item_and_cuts_padding():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.8, 4.0, size=600)
    weights = rng.choice([0.5, 1.0, 3.0], size=600)

    def augmented(epoch):  # what room-tone padding and speed changes do to the lengths
        r = np.random.default_rng(epoch)
        return (base + r.uniform(0.0, 1.2, size=600) * (r.random(600) < 0.8)) / r.choice([0.9, 1.0, 1.1], size=600)

    def waste(sampler, epoch):
        sampler.set_epoch(epoch)
        d = augmented(epoch)
        batches = list(sampler)
        real = sum(d[i] for b in batches for i in b)
        return 1 - real / sum(max(d[i] for i in b) * len(b) for b in batches), batches

    by_manifest = BucketBatchSampler(base, 40.0, max_items=64, weights=weights, bucket_size=200, seed=2)
    by_epoch = BucketBatchSampler(base, 40.0, max_items=64, weights=weights, bucket_size=200, seed=2,
                                  epoch_durations=augmented)
    for epoch in range(2):
        w_old, old = waste(by_manifest, epoch)
        w_new, new = waste(by_epoch, epoch)
        assert Counter(i for b in new for i in b) == Counter(i for b in old for i in b)  # same items, same counts
        assert w_new < 0.5 * w_old and w_new < 0.07, (w_new, w_old)
        d = augmented(epoch)
        assert all(len(b) == 1 or max(d[i] for i in b) * len(b) <= 40.0 for b in new)  # budget on real lengths
    with pytest.raises(ValueError, match="epoch_durations"):
        list(BucketBatchSampler(base, 40.0, epoch_durations=lambda e: base[:10]))


def test_repeats_of_an_item_in_one_epoch_are_augmented_apart(tmp_path):
    """An up-weighted clip (weight 3: three copies an epoch) must not be three identical examples."""
    from speech.augment import AugmentConfig
    from speech.vocab import Alphabet

    path = make_corpus(tmp_path, ["abc", "bad cab", "face"])
    entries = [ManifestEntry(e.audio, e.text, e.duration) for e in read_manifest(path)]
    cfg = AugmentConfig(pad_prob=0.7, pad_seconds=(0.1, 0.6), speed_prob=0.8, speeds=(0.9, 1.1), noise_prob=1.0,
                        spec_prob=1.0)
    ds = SpeechDataset(entries, Alphabet(), augment=cfg, seed=4)
    sampler = BucketBatchSampler(ds.durations, 4.0, weights=[3.0, 1.0, 1.0], seed=1, tag_epoch=True,
                                 epoch_durations=ds.planned_durations)
    sampler.set_epoch(0)
    keys = [k for b in sampler for k in b]
    copies = sorted(k for k in keys if k[1] == 0)
    assert copies == [(0, 0), (0, 0, 1), (0, 0, 2)]
    items = [ds[k] for k in copies]
    planned = ds.planned_durations(0)[0]
    assert all(it["feats"].shape == items[0]["feats"].shape for it in items)  # one padding and speed plan
    assert all(abs(it["duration"] - planned) < 1e-3 for it in items)
    assert not torch.equal(items[0]["feats"], items[1]["feats"]) and not torch.equal(items[1]["feats"], items[2]["feats"])
    assert torch.equal(ds[(0, 0)]["feats"], items[0]["feats"])  # still reproducible
    # a resumed epoch tags the remaining batches as the uninterrupted one did
    batches = list(sampler)
    assert len(batches) >= 3
    sampler.set_epoch(0, start_batch=1)
    assert list(sampler) == batches[1:]


def test_repeat_tags_are_counted_over_all_ranks():
    """Two ranks never both see copy 0 of one up-weighted item in an epoch."""
    durations = [1.0] * 6
    tags = []
    for rank in (0, 1):
        s = BucketBatchSampler(durations, 2.0, weights=[4.0] + [1.0] * 5, seed=3, num_replicas=2, rank=rank,
                               tag_epoch=True)
        s.set_epoch(0)
        tags += [k for b in s for k in b if k[1] == 0]
    assert sorted(set(tags)) == [(0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)]
