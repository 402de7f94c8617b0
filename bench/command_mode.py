"""Command mode (a closed phrase list): how the rejection margin trades wrong answers for "not in the list".

    .venv/bin/python bench/command_mode.py --phrases bench/speech_commands.txt \
        --in-list data/speech/real_test.jsonl data/speech/real_dev.jsonl --corpus speech_commands \
        --out-of-list data/speech/found_words.jsonl data/speech/drascula.jsonl --sample 80 [--model en] [--write]

For each clip the acoustic model runs once; `PhraseDecoder` with margin 0 gives the best phrase and its
gap to the unconstrained best path, so every margin is scored from the same numbers. Clips whose text is
in the list count as in-list (error = wrong phrase or rejected); the others are out-of-list (error =
any phrase accepted: a false accept). Writes bench/results/command_mode.{json,md,png}; `--write` stores
the chosen margin (`--pick`, default the one with the fewest in-list errors plus false accepts) in the
model checkpoint's decoding settings, which `Recognizer.load` applies.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech import PhraseDecoder, Recognizer, load_audio, normalize_text  # noqa: E402
from speech.data import read_manifest  # noqa: E402
from speech.decoder import read_phrases  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MARGINS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, float("inf"))


def clip_gaps(recognizer: Recognizer, decoder: PhraseDecoder, entries) -> list[dict]:
    """Per clip: reference, best phrase, and gap = free best path minus the best phrase's score (nats)."""
    rows = []
    for e in entries:
        hyps = decoder.decode(recognizer.log_probs(load_audio(e.audio)))
        if hyps[0].text == "":  # margin 0: "something else" won; the best phrase is the first alternative
            best = hyps[1] if len(hyps) > 1 else None
            gap = hyps[0].score - best.score if best is not None else float("inf")
        else:
            best, gap = hyps[0], -1.0  # a phrase beat the free path itself: accepted at every margin
        rows.append({"audio": e.audio, "ref": normalize_text(e.text), "phrase": best.text if best else "", "gap": gap})
    return rows


def score(in_rows: list[dict], out_rows: list[dict], margin: float) -> dict:
    wrong = sum(1 for r in in_rows if r["gap"] <= margin and r["phrase"] != r["ref"])
    rejected = sum(1 for r in in_rows if r["gap"] > margin)
    accepted = sum(1 for r in out_rows if r["gap"] <= margin)
    n_in, n_out = max(len(in_rows), 1), max(len(out_rows), 1)
    return {"margin": margin, "in_list_wer": (wrong + rejected) / n_in, "wrong": wrong / n_in,
            "rejected": rejected / n_in, "false_accept": accepted / n_out}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="en")
    parser.add_argument("--phrases", required=True, help="phrase list, one per line (# comments)")
    parser.add_argument("--in-list", nargs="+", required=True, metavar="MANIFEST")
    parser.add_argument("--out-of-list", nargs="*", default=[], metavar="MANIFEST")
    parser.add_argument("--corpus", default=None, help="only this corpus of the in-list manifests")
    parser.add_argument("--sample", type=int, default=None, help="at most N clips per out-of-list manifest (seed 0)")
    parser.add_argument("--pick", type=float, default=None, help="the margin to store with --write")
    parser.add_argument("--write", action="store_true", help="store the margin in the model checkpoint")
    parser.add_argument("--out", default=str(RESULTS / "command_mode"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    phrases = [normalize_text(p) for p in read_phrases(args.phrases)]
    recognizer = Recognizer.load(args.model, lm=None, beam_size=1)
    decoder = PhraseDecoder(recognizer.alphabet, phrases, reject_margin=0.0, n_best=2)
    listed = set(decoder.phrases)

    in_entries = [e for m in args.in_list for e in read_manifest(m) if args.corpus in (None, e.corpus)]
    in_entries = [e for e in in_entries if normalize_text(e.text) in listed]
    out_entries = []
    for m in args.out_of_list:
        entries = [e for e in read_manifest(m) if normalize_text(e.text) not in listed]
        if args.sample is not None and len(entries) > args.sample:
            entries = [entries[i] for i in sorted(random.Random(0).sample(range(len(entries)), args.sample))]
        out_entries += entries
    if not in_entries:
        raise SystemExit("command_mode: no in-list clips (is --corpus right?)")
    in_rows = clip_gaps(recognizer, decoder, in_entries)
    out_rows = clip_gaps(recognizer, decoder, out_entries)
    table = [score(in_rows, out_rows, m) for m in MARGINS]
    best = min(table, key=lambda r: (r["in_list_wer"] + r["false_accept"], -r["margin"]))
    pick = args.pick if args.pick is not None else best["margin"]

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"model": args.model, "phrases": args.phrases, "n_phrases": len(listed), "n_in_list": len(in_rows),
         "n_out_of_list": len(out_rows), "table": table, "picked": pick, "in_list": in_rows, "out_of_list": out_rows},
        indent=2, default=str) + "\n")
    md = [f"{len(in_rows)} in-list clips, {len(out_rows)} out-of-list clips, {len(listed)} phrases, model {args.model}", "",
          "| margin (nats) | in-list WER % | wrong phrase % | rejected % | false accept % (out of list) |",
          "|---:|---:|---:|---:|---:|"]
    for r in table:
        md.append(f"| {r['margin']:g} | {100 * r['in_list_wer']:.1f} | {100 * r['wrong']:.1f} | "
                  f"{100 * r['rejected']:.1f} | {100 * r['false_accept']:.1f} |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"picked margin: {pick:g}")
    plot(table, out.with_suffix(".png"))
    if args.write:
        if not np.isfinite(pick):
            raise SystemExit("command_mode: an infinite margin cannot be stored; pass --pick")
        from speech.recognizer import write_decoding

        path = write_decoding(args.model, {"phrase_margin": float(pick)})
        print(f"wrote phrase_margin={pick:g} into {path}")
    return 0


def plot(table: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = [r for r in table if np.isfinite(r["margin"])]
    x = [r["margin"] for r in finite]
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(x, [100 * r["wrong"] for r in finite], "o-", label="in list: wrong phrase")
    ax.plot(x, [100 * r["rejected"] for r in finite], "o-", label="in list: rejected")
    ax.plot(x, [100 * r["false_accept"] for r in finite], "o-", label="not in list: accepted")
    ax.set_xlabel("reject margin (nats)")
    ax.set_ylabel("% of clips")
    ax.set_title("Command mode: the rejection trade-off")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
