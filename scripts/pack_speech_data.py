"""Pack training speech into a small folder that can travel to a GPU machine with no network.

    python scripts/pack_speech_data.py --train data/speech/real_train.jsonl data/speech/fotaq.jsonl:1.5 \\
        --fraction real_train:picovoice_wakeword=0.3 --dev data/speech/real_dev.jsonl \\
        --out .gpu/speechpack --budget-mb 38

The lent GPU machine receives only the repository's working tree and a few carried folders, 64 MiB in
all, and the shipped models already take about 24 MB of that. So the training audio travels as Opus
in Ogg (libsndfile, `compression_level` 0.96 by default: about 8.5 MB per hour of 16 kHz speech; the
shipped model's CER on 50 clips was the same on these files as on the FLAC originals, while 1.0
(about 4 MB/h) cost it 9 points on synthetic speech). Dev manifests travel as FLAC, unchanged.

Manifests are packed in the order given, each whole (or the `--fraction` of a corpus inside it,
drawn at random with a fixed seed) until the size budget is spent; a manifest that no longer fits
is cut short and the report says so. The folder gets one manifest per input (relative audio paths),
and `pack.json` with the hours, sizes and the `--train` arguments (with their weights) for
scripts/train_speech.py, which scripts/gpu_train_speech.sh reads.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speech.audio import load_audio  # noqa: E402
from speech.data import read_manifest  # noqa: E402

SAMPLE_RATE = 16000


def _parse_train(spec: str) -> tuple[Path, float]:
    head, sep, tail = spec.rpartition(":")
    if sep and head:
        try:
            return Path(head), float(tail)
        except ValueError:
            pass
    return Path(spec), 1.0


def _parse_fractions(specs: list[str]) -> dict[tuple[str, str], float]:
    """["real_train:picovoice_wakeword=0.3"] -> {("real_train", "picovoice_wakeword"): 0.3}."""
    out = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        stem, colon, corpus = key.partition(":")
        try:
            if not (sep and colon and stem and corpus):
                raise ValueError
            frac = float(value)
        except ValueError:
            raise SystemExit(f"pack_speech_data: --fraction wants MANIFEST_STEM:CORPUS=FRACTION, got {spec!r}")
        if not 0.0 <= frac <= 1.0:
            raise SystemExit(f"pack_speech_data: fraction {frac} for {key} is not between 0 and 1")
        out[(stem, corpus)] = frac
    return out


def encode(x, level: float) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, SAMPLE_RATE, format="OGG", subtype="OPUS", compression_level=level)
    return buf.getvalue()


def pack(train: list[tuple[Path, float]], dev: list[Path], out: Path, budget_mb: float, level: float,
         fractions: dict[tuple[str, str], float], seed: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    budget = budget_mb * 1e6
    used = 0
    report: dict = {"level": level, "budget_mb": budget_mb, "train": [], "dev": []}
    for path in dev:
        entries = read_manifest(path)
        folder = out / "audio" / f"dev_{path.stem}"
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for i, e in enumerate(entries):
            dst = folder / f"{i:06d}.flac"
            sf.write(dst, load_audio(e.audio), SAMPLE_RATE, subtype="PCM_16", format="FLAC")
            used += dst.stat().st_size
            rows.append({"audio": str(dst.relative_to(out)), "text": e.text, "duration": e.duration,
                         "speaker": e.speaker, "corpus": e.corpus})
        (out / f"dev_{path.stem}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        report["dev"].append({"manifest": f"dev_{path.stem}.jsonl", "utts": len(rows),
                              "hours": round(sum(r["duration"] for r in rows) / 3600, 3)})
    for path, weight in train:
        entries = read_manifest(path)
        rng = random.Random(f"{seed}:{path.stem}")
        keep = [e for e in entries if rng.random() < fractions.get((path.stem, e.corpus or ""), 1.0)]
        folder = out / "audio" / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        rows, cut = [], False
        for i, e in enumerate(tqdm(keep, desc=f"pack {path.stem}", mininterval=5)):
            data = encode(load_audio(e.audio), level)
            if used + len(data) > budget:
                cut = True
                break
            dst = folder / f"{i:06d}.ogg"
            dst.write_bytes(data)
            used += len(data)
            rows.append({"audio": str(dst.relative_to(out)), "text": e.text, "duration": e.duration,
                         "speaker": e.speaker, "corpus": e.corpus})
        if rows:
            (out / f"{path.stem}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        report["train"].append({"manifest": f"{path.stem}.jsonl", "weight": weight, "utts": len(rows),
                                "of": len(entries), "hours": round(sum(r["duration"] for r in rows) / 3600, 3),
                                "cut_by_budget": cut})
        if cut:
            break
    report["size_mb"] = round(used / 1e6, 2)
    report["train_args"] = [f"{t['manifest']}:{t['weight']:g}" for t in report["train"] if t["utts"]]
    report["dev_args"] = [d["manifest"] for d in report["dev"]]
    (out / "pack.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", nargs="+", required=True, metavar="MANIFEST[:WEIGHT]",
                   help="training manifests in order of importance, with their sampling weights")
    p.add_argument("--dev", nargs="*", default=[], metavar="MANIFEST")
    p.add_argument("--fraction", nargs="*", default=[], metavar="STEM:CORPUS=F",
                   help="keep only this share of a corpus inside a manifest (real_train:picovoice_wakeword=0.3)")
    p.add_argument("--out", default=".gpu/speechpack")
    p.add_argument("--budget-mb", type=float, default=38.0, help="stop packing at this many megabytes")
    p.add_argument("--level", type=float, default=0.96, help="Opus compression level, 0 (best) to 1 (smallest)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    train = [_parse_train(s) for s in args.train]
    for path in [t[0] for t in train] + [Path(d) for d in args.dev]:
        if not path.exists():
            p.error(f"manifest not found: {path}")
    if not 0.0 <= args.level <= 1.0:
        p.error("--level must be between 0 and 1")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        p.error(f"{out} is not empty: remove it first (a pack is rebuilt whole)")
    report = pack(train, [Path(d) for d in args.dev], out, args.budget_mb, args.level,
                  _parse_fractions(args.fraction), args.seed)
    for t in report["train"]:
        print(f"{t['manifest']}: {t['utts']} of {t['of']} utts, {t['hours']} h, weight {t['weight']:g}"
              + (" (cut: budget spent)" if t["cut_by_budget"] else ""))
    print(f"{out}: {report['size_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
