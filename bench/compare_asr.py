"""Accuracy and speed of our recognizer against PocketSphinx on the same audio, in one run.

    .venv/bin/pip install -e '.[bench]'      # pocketsphinx (ships an English model), matplotlib
    .venv/bin/python bench/compare_asr.py MANIFEST [MANIFEST ...] [--model en] [--lm ARPA] [--limit N | --sample N] [--by-corpus]
        [--corpus NAME] [--phrases FILE --out bench/results/asr_commands]

For every manifest: WER and CER of our model with greedy decoding and with beam
search + word LM, and of PocketSphinx's default en-us model, plus real-time
factors on one CPU thread. `--by-corpus` also scores each manifest's corpora apart
(real_test holds single spoken command words and read sentences: they behave very
differently). Writes bench/results/asr_compare.json (with every hypothesis, for error
analysis), a Markdown table (asr_compare.md) and a bar chart (asr_compare.png).

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
from speech.train import cer, wer  # noqa: E402
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
    """WER/CER/RTF of each system over the items at positions `keep`."""
    refs = [items[i][1] for i in keep]
    audio_s = sum(items[i][0].size for i in keep) / 16000
    rows = []
    for name, d in decoded.items():
        hyps = [d["hyps"][i] for i in keep]
        rows.append({"system": name, "wer": wer(refs, hyps), "cer": cer(refs, hyps),
                     "rtf": sum(d["seconds"][i] for i in keep) / audio_s, "n": len(refs)})
    return rows


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifests", nargs="+")
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
    torch.set_num_threads(1)

    recognizer = Recognizer.load(args.model, lm=args.lm)
    systems = [Ours(recognizer, 1, False)]
    if recognizer.lm is not None:
        systems.append(Ours(recognizer, recognizer.beam_size if recognizer.beam_size > 1 else 8, True))
    if not args.no_pocketsphinx:
        systems.append(PocketSphinx())
    if args.phrases:
        phrases = normalized_phrases(args.phrases)
        systems.append(Ours(recognizer, 1, False, phrases))
        if not args.no_pocketsphinx:
            systems.append(PocketSphinx(phrases))

    results, utterances = {}, {}
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
        results[name] = score(decoded, items, list(range(len(items))))
        corpora = sorted({e.corpus or "?" for e in entries})
        if args.by_corpus and len(corpora) > 1:
            for corpus in corpora:
                keep = [i for i, e in enumerate(entries) if (e.corpus or "?") == corpus]
                results[f"{name}/{corpus}"] = score(decoded, items, keep)
        utterances[name] = [{"audio": e.audio, "corpus": e.corpus, "ref": text,
                             **{sys_name: d["hyps"][i] for sys_name, d in decoded.items()}}
                            for i, (e, (_, text)) in enumerate(zip(entries, items))]

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"model": args.model, "lm": args.lm, "corpus": args.corpus,
                                                    "phrases": args.phrases, "results": results,
                                                    "utterances": utterances}, indent=2) + "\n")
    lines = ["| test set | system | utts | WER % | CER % | RTF (1 thread) |", "|---|---|---:|---:|---:|---:|"]
    for name, rows in results.items():
        for r in rows:
            lines.append(f"| {name} | {r['system']} | {r['n']} | {100 * r['wer']:.1f} | {100 * r['cer']:.1f} | {r['rtf']:.3f} |")
    table = "\n".join(lines)
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    plot(results, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
