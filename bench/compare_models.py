"""Is a new speech model better than the old one? A paired comparison on the same utterances.

    .venv/bin/python bench/compare_models.py speech/pretrained/en.pt NEW/en.pt \
        data/speech/real_dev.jsonl data/speech_debian_extra/synth_test.jsonl [--sample 120] [--phrases FILE]

Both models decode every utterance greedily and with their own stored beam+LM settings (and, with
`--phrases`, in command mode). For each decoder it prints both WERs over all the manifests together
and the paired bootstrap difference new - old (95 % interval over utterances, 2,000 resamples; both
models scored on the same resampled utterances) with a verdict: an interval that excludes 0 is a
difference the data can show, one that straddles 0 is a tie. Per-manifest rows follow. A model is
shipped only when the tuning set says "new better" and the held-out sets do not say "old better".
`--json FILE` keeps every hypothesis. Both run their float weights (`quantize=False`, also where a
checkpoint such as the shipped one runs int8), so this compares weights; `--new-int8` loads NEW with
int8 weights: `compare_models.py en en ... --new-int8` measures what quantization costs.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from compare_asr import MIN_UTTS_FOR_INTERVAL, Ours, decode_all, normalized_phrases  # noqa: E402
from speech import Recognizer, load_audio  # noqa: E402
from speech.data import read_manifest  # noqa: E402
from speech.train import paired_wer_difference, wer  # noqa: E402
from speech.vocab import normalize_text  # noqa: E402


def decoders(recognizer: Recognizer, phrases: list[str] | None) -> list[Ours]:
    systems = [Ours(recognizer, 1, False)]
    if recognizer.lm is not None:
        systems.append(Ours(recognizer, recognizer.beam_size, True))
    if phrases:
        systems.append(Ours(recognizer, 1, False, phrases))
    return systems


def compare(refs: list[str], old: dict, new: dict) -> list[dict]:
    """One row per decoder both models ran: WER of each and the paired difference new - old."""
    rows = []
    for name in old:
        if name not in new or not refs:
            continue
        row = {"decoder": name.removeprefix("ours "), "n": len(refs),
               "old": wer(refs, old[name]["hyps"]), "new": wer(refs, new[name]["hyps"])}
        row.update(paired_wer_difference(refs, new[name]["hyps"], old[name]["hyps"]))
        rows.append(row)
    return rows


def verdict(row: dict) -> str:
    if row["n"] < MIN_UTTS_FOR_INTERVAL:
        return "too few utterances"
    return "new better" if row["high"] < 0 else "old better" if row["low"] > 0 else "tie"


def markdown(sets: dict[str, list[dict]]) -> str:
    lines = ["| test set | decoder | utts | old WER % | new WER % | new - old | 95 % CI | new better in | verdict |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, rows in sets.items():
        for r in rows:
            ci = "-" if r["n"] < MIN_UTTS_FOR_INTERVAL else f"{100 * r['low']:+.1f} to {100 * r['high']:+.1f}"
            lines.append(f"| {name} | {r['decoder']} | {r['n']} | {100 * r['old']:.1f} | {100 * r['new']:.1f} | "
                         f"{100 * r['diff']:+.1f} | {ci} | {100 * r['a_better']:.0f} % | {verdict(r)} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="model name (en) or inference checkpoint")
    parser.add_argument("new", help="model name or inference checkpoint")
    parser.add_argument("manifests", nargs="+", metavar="MANIFEST")
    parser.add_argument("--sample", type=int, default=None,
                        help="at most N random utterances per manifest (seed 0, the same as compare_asr)")
    parser.add_argument("--phrases", default=None, metavar="FILE", help="also compare command mode with this list")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--new-int8", action="store_true", help="run NEW with int8 weights (Recognizer quantize=True)")
    parser.add_argument("--json", default=None, metavar="FILE")
    args = parser.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        parser.error("--sample must be >= 1")
    torch.set_num_threads(args.threads)
    try:
        # float weights on both sides unless --new-int8: this compares weights, whatever each checkpoint runs as
        models = {"old": Recognizer.load(args.old, quantize=False),
                  "new": Recognizer.load(args.new, quantize=args.new_int8)}
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    phrases = normalized_phrases(args.phrases) if args.phrases else None

    # built once: each decoder sets the recognizer's beam and LM before it runs
    systems = {side: decoders(rec, phrases) for side, rec in models.items()}
    per_set, all_refs, all_decoded = {}, [], {"old": {}, "new": {}}
    for manifest in args.manifests:
        try:
            entries = read_manifest(manifest)
            if args.sample is not None and args.sample < len(entries):
                keep = sorted(random.Random(0).sample(range(len(entries)), args.sample))
                entries = [entries[i] for i in keep]
            items = [(load_audio(e.audio), normalize_text(e.text)) for e in entries]
        except (OSError, ValueError) as err:  # a missing manifest, a bad line or unreadable audio
            parser.error(f"{manifest}: {err}")
        refs = [text for _, text in items]
        decoded = {side: decode_all(systems[side], items) for side in models}
        per_set[Path(manifest).stem] = compare(refs, decoded["old"], decoded["new"])
        all_refs += refs
        for side in decoded:
            for name, d in decoded[side].items():
                all_decoded[side].setdefault(name, {"hyps": []})["hyps"] += d["hyps"]
        print(f"{manifest}: {len(items)} utterances", file=sys.stderr)

    sets = {"all": compare(all_refs, all_decoded["old"], all_decoded["new"]), **per_set}
    print(f"old = {args.old}, new = {args.new}{' (int8)' if args.new_int8 else ''}\n")
    print(markdown(sets))
    if args.json:
        Path(args.json).write_text(json.dumps({"old": args.old, "new": args.new, "refs": all_refs,
                                               "hyps": all_decoded, "sets": sets}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
