"""Accuracy and speed of our recognizer against PocketSphinx on the same audio, in one run.

    .venv/bin/pip install -e '.[bench]'      # pocketsphinx (ships an English model), matplotlib
    .venv/bin/python bench/compare_asr.py MANIFEST [MANIFEST ...] [--model en] [--lm ARPA] [--limit N | --sample N] [--by-corpus]
        [--corpus NAME] [--phrases FILE --out bench/results/asr_commands]
    .venv/bin/python bench/compare_asr.py --merge A.json B.json [--out bench/results/asr_compare]

For every manifest: WER and CER of our model with greedy decoding and with beam
search + word LM, and of PocketSphinx's default en-us model, plus real-time
factors on one CPU thread. Ours runs as the checkpoint says (the shipped model: int8 weights;
the JSON records `int8`). `--by-corpus` also scores each manifest's corpora apart
(real_test holds single spoken command words and read sentences: they behave very
differently). Writes bench/results/asr_compare.json (with every hypothesis, for error
analysis), a Markdown table (asr_compare.md) and a bar chart (asr_compare.png).

The sets are small, so every WER comes with a 95 % bootstrap interval over utterances, and each of
our systems is compared with PocketSphinx's matching one (free decoding, or command mode) on the
same utterances: the paired difference in WER points with its 95 % interval, and the share of
resamples where ours is better. An interval that straddles 0 is a tie on that set.

`--phrases FILE` (one phrase per line) adds command mode for both: our recognizer
restricted to the phrases (`Recognizer.transcribe(phrases=...)`) and PocketSphinx
with the same list as a JSGF grammar.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech import Recognizer, load_audio  # noqa: E402
from speech.audio import float_to_pcm16  # noqa: E402
from speech.data import read_manifest  # noqa: E402
from speech.decoder import read_phrases  # noqa: E402
from speech.train import cer, paired_wer_difference, wer, wer_interval  # noqa: E402
from speech.vocab import normalize_text  # noqa: E402

RESULTS = ROOT / "bench" / "results"


class PocketSphinx:
    name = "pocketsphinx"

    def __init__(self, phrases: list[str] | None = None):
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=16000, logfn="/dev/null")
        if phrases:  # the same closed list as ours, as a one-rule JSGF grammar
            self.name = "pocketsphinx phrases"
            rule = " | ".join(" ".join(p.split()) for p in phrases)
            self.decoder.add_jsgf_string("phrases", f"#JSGF V1.0;\ngrammar phrases;\npublic <phrase> = {rule} ;\n")
            self.decoder.activate_search("phrases")

    def __call__(self, audio: np.ndarray) -> str:
        self.decoder.start_utt()
        self.decoder.process_raw(float_to_pcm16(audio), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


class Ours:
    def __init__(self, recognizer: Recognizer, beam: int, use_lm: bool, phrases: list[str] | None = None):
        self.recognizer, self.beam, self.lm = recognizer, beam, recognizer.lm if use_lm else None
        self.phrases = phrases
        self.name = "ours greedy" if beam == 1 else ("ours beam+LM" if self.lm else "ours beam")
        if phrases:
            self.name = "ours phrases"

    def __call__(self, audio: np.ndarray) -> str:
        self.recognizer.beam_size, self.recognizer.lm = self.beam, self.lm
        return self.recognizer.transcribe(audio, phrases=self.phrases).text


def normalized_phrases(path: str) -> list[str]:
    phrases = [normalize_text(p) for p in read_phrases(path)]
    if not phrases:
        raise SystemExit(f"compare_asr: no phrases in {path}")
    return phrases


def decode_all(systems, items) -> dict[str, dict]:
    """Every system on every item: hypotheses and per-item compute seconds."""
    out = {}
    for system in systems:
        hyps, seconds = [], []
        for audio, _ in items:
            start = time.perf_counter()
            hyps.append(normalize_text(system(audio)))
            seconds.append(time.perf_counter() - start)
        out[system.name] = {"hyps": hyps, "seconds": seconds}
    return out


def score(decoded: dict[str, dict], items, keep: list[int]) -> list[dict]:
    """WER (with its 95 % bootstrap interval)/CER/RTF of each system over the items at positions `keep`."""
    refs = [items[i][1] for i in keep]
    audio_s = sum(items[i][0].size for i in keep) / 16000
    rows = []
    for name, d in decoded.items():
        hyps = [d["hyps"][i] for i in keep]
        rows.append({"system": name, "wer": wer(refs, hyps), "wer_ci": list(wer_interval(refs, hyps)),
                     "cer": cer(refs, hyps), "rtf": sum(d["seconds"][i] for i in keep) / audio_s, "n": len(refs)})
    return rows


MIN_UTTS_FOR_INTERVAL = 5  # a bootstrap over fewer utterances only repeats them


def versus_peer(decoded: dict[str, dict], items, keep: list[int], phrases: list[str] | None = None) -> list[dict]:
    """Paired WER differences (ours - PocketSphinx) over the items at positions `keep`: our best free
    decoder (beam+LM, else greedy) against PocketSphinx's, and, where every reference is one of the
    phrases (a closed-set task), command mode against PocketSphinx's grammar."""
    refs = [items[i][1] for i in keep]
    ours = "ours beam+LM" if "ours beam+LM" in decoded else "ours greedy"
    pairs = [(ours, "pocketsphinx")]
    if phrases and all(r in phrases for r in refs):
        pairs.append(("ours phrases", "pocketsphinx phrases"))
    rows = []
    for a, b in pairs:
        if a in decoded and b in decoded and refs:
            d = paired_wer_difference(refs, [decoded[a]["hyps"][i] for i in keep], [decoded[b]["hyps"][i] for i in keep])
            rows.append({"system": a, "peer": b, "n": len(refs), **d})
    return rows


def verdict(row: dict) -> str:
    if row["n"] < MIN_UTTS_FOR_INTERVAL:
        return "too few utterances"
    if row["high"] < 0:
        return "ours better"
    if row["low"] > 0:
        return "PocketSphinx better"
    return "tie"


def _interval(low: float, high: float, n: int, signed: bool = False) -> str:
    if n < MIN_UTTS_FOR_INTERVAL:
        return "-"
    return f"{100 * low:+.1f} to {100 * high:+.1f}" if signed else f"{100 * low:.1f}-{100 * high:.1f}"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(results)
    # every system that ran on some set, in order; a set a system did not run on (results merged from
    # several runs, some without --phrases) gets no bar
    systems = list(dict.fromkeys(r["system"] for s in sets for r in results[s]))
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(sets), 3.6))
    width = 0.8 / len(systems)
    for k, system in enumerate(systems):
        values = [100 * next((r["wer"] for r in results[s] if r["system"] == system), float("nan")) for s in sets]
        ax.bar(np.arange(len(sets)) + k * width, values, width, label=system)
    ax.set_xticks(np.arange(len(sets)) + width * (len(systems) - 1) / 2, sets, fontsize=8)
    ax.set_ylabel("WER %")
    ax.set_title("Word error rate (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(results: dict, versus: dict) -> str:
    """The results table, then (where PocketSphinx ran) the paired comparison table."""
    lines = ["| test set | system | utts | WER % | WER 95 % CI | CER % | RTF (1 thread) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, rows in results.items():
        for r in rows:
            lines.append(f"| {name} | {r['system']} | {r['n']} | {100 * r['wer']:.1f} | {_interval(*r['wer_ci'], r['n'])} "
                         f"| {100 * r['cer']:.1f} | {r['rtf']:.3f} |")
    pairs = [(name, r) for name, rows in versus.items() for r in rows]
    if pairs:
        lines += ["", "Ours minus PocketSphinx, WER points on the same utterances (paired bootstrap over utterances, "
                  "2,000 resamples; no interval under 5 utterances):", "",
                  "| test set | ours | vs | difference | 95 % CI | ours better in | verdict |",
                  "|---|---|---|---:|---:|---:|---|"]
        for name, r in pairs:
            lines.append(f"| {name} | {r['system']} | {r['peer']} | {100 * r['diff']:+.1f} | "
                         f"{_interval(r['low'], r['high'], r['n'], signed=True)} | {100 * r['a_better']:.0f} % | {verdict(r)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifests", nargs="*")
    parser.add_argument("--merge", nargs="+", metavar="JSON", default=None,
                        help="instead of decoding, join the JSON results of earlier runs into --out")
    parser.add_argument("--model", default="en")
    parser.add_argument("--limit", type=int, default=None, help="first N utterances of each manifest")
    parser.add_argument("--sample", type=int, default=None,
                        help="N utterances of each manifest drawn at random (seed 0), in manifest order")
    parser.add_argument("--lm", default=None, help="word LM (ARPA) for beam search, instead of the one beside the model")
    parser.add_argument("--by-corpus", action="store_true", help="also score each corpus of a manifest apart")
    parser.add_argument("--no-pocketsphinx", action="store_true")
    parser.add_argument("--corpus", default=None, help="only the utterances of this corpus")
    parser.add_argument("--phrases", default=None, metavar="FILE",
                        help="also score command mode (ours and PocketSphinx) with these phrases, one per line")
    parser.add_argument("--out", default=str(RESULTS / "asr_compare"))
    args = parser.parse_args(argv)
    if bool(args.merge) == bool(args.manifests):
        parser.error("give manifests to decode, or --merge JSON files, not both")
    if args.merge:
        merge_saved(args.merge, Path(args.out))
        return
    torch.set_num_threads(1)

    recognizer = Recognizer.load(args.model, lm=args.lm)
    systems = [Ours(recognizer, 1, False)]
    if recognizer.lm is not None:
        systems.append(Ours(recognizer, recognizer.beam_size if recognizer.beam_size > 1 else 8, True))
    if not args.no_pocketsphinx:
        systems.append(PocketSphinx())
    phrases = None
    if args.phrases:
        phrases = normalized_phrases(args.phrases)
        systems.append(Ours(recognizer, 1, False, phrases))
        if not args.no_pocketsphinx:
            systems.append(PocketSphinx(phrases))

    results, versus, utterances = {}, {}, {}
    for manifest in args.manifests:
        entries = read_manifest(manifest)
        if args.corpus:
            entries = [e for e in entries if e.corpus == args.corpus]
        entries = entries[: args.limit]
        if args.sample is not None and args.sample < len(entries):
            keep = sorted(random.Random(0).sample(range(len(entries)), args.sample))
            entries = [entries[i] for i in keep]
        items = [(load_audio(e.audio), normalize_text(e.text)) for e in entries]
        decoded = decode_all(systems, items)
        name = Path(manifest).stem
        everything = list(range(len(items)))
        results[name] = score(decoded, items, everything)
        versus[name] = versus_peer(decoded, items, everything, phrases)
        corpora = sorted({e.corpus or "?" for e in entries})
        if args.by_corpus and len(corpora) > 1:
            for corpus in corpora:
                keep = [i for i, e in enumerate(entries) if (e.corpus or "?") == corpus]
                results[f"{name}/{corpus}"] = score(decoded, items, keep)
                versus[f"{name}/{corpus}"] = versus_peer(decoded, items, keep, phrases)
        utterances[name] = [{"audio": e.audio, "corpus": e.corpus, "ref": text,
                             **{sys_name: d["hyps"][i] for sys_name, d in decoded.items()}}
                            for i, (e, (_, text)) in enumerate(zip(entries, items))]

    write_outputs(Path(args.out), {"model": args.model, "int8": recognizer.quantize, "lm": args.lm, "corpus": args.corpus,
                                   "phrases": args.phrases},
                  results, versus, utterances)


def write_outputs(out: Path, meta: dict, results: dict, versus: dict, utterances: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({**meta, "results": results, "versus_pocketsphinx": versus,
                                                    "utterances": utterances}, indent=2) + "\n")
    table = markdown(results, versus)
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    plot(results, out.with_suffix(".png"))


def merge_saved(paths: list[str], out: Path) -> None:
    """Join the JSON results of several runs (e.g. test sets decoded in parallel processes) into one
    table and chart, re-scoring intervals and paired comparisons from the stored hypotheses (RTFs are
    kept as measured)."""
    results, versus, utterances, meta = {}, {}, {}, {}
    for path in paths:
        saved = json.loads(Path(path).read_text())
        meta = meta or {k: saved.get(k) for k in ("model", "int8", "lm", "corpus", "phrases")}
        utterances.update(saved["utterances"])
        phrases = normalized_phrases(saved["phrases"]) if saved.get("phrases") else None
        for key, rows in saved["results"].items():
            set_name, _, corpus = key.partition("/")
            utts = [u for u in saved["utterances"][set_name] if not corpus or (u["corpus"] or "?") == corpus]
            items = [(None, u["ref"]) for u in utts]
            keep = list(range(len(utts)))
            decoded = {r["system"]: {"hyps": [u[r["system"]] for u in utts]} for r in rows}
            results[key] = [{**r, "wer_ci": list(wer_interval([u["ref"] for u in utts], decoded[r["system"]]["hyps"]))}
                            for r in rows]
            versus[key] = versus_peer(decoded, items, keep, phrases)
    write_outputs(out, {**meta, "merged_from": paths}, results, versus, utterances)


if __name__ == "__main__":
    main()
