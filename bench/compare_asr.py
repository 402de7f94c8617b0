"""Accuracy and speed of our recognizer against PocketSphinx on the same audio, in one run.

    .venv/bin/pip install -e '.[bench]'      # pocketsphinx (ships an English model), matplotlib
    .venv/bin/python bench/compare_asr.py MANIFEST [MANIFEST ...] [--model en] [--limit N]

For every manifest: WER and CER of our model with greedy decoding and with beam
search + word LM, and of PocketSphinx's default en-us model, plus real-time
factors on one CPU thread. Writes bench/results/asr_compare.json, a Markdown table
(asr_compare.md) and a bar chart (asr_compare.png).
"""
from __future__ import annotations

import argparse
import json
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
from speech.train import cer, wer  # noqa: E402
from speech.vocab import normalize_text  # noqa: E402

RESULTS = ROOT / "bench" / "results"


class PocketSphinx:
    name = "pocketsphinx"

    def __init__(self):
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=16000, logfn="/dev/null")

    def __call__(self, audio: np.ndarray) -> str:
        self.decoder.start_utt()
        self.decoder.process_raw(float_to_pcm16(audio), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


class Ours:
    def __init__(self, recognizer: Recognizer, beam: int, use_lm: bool):
        self.recognizer, self.beam, self.lm = recognizer, beam, recognizer.lm if use_lm else None
        self.name = "ours greedy" if beam == 1 else ("ours beam+LM" if self.lm else "ours beam")

    def __call__(self, audio: np.ndarray) -> str:
        self.recognizer.beam_size, self.recognizer.lm = self.beam, self.lm
        return self.recognizer.transcribe(audio).text


def run(systems, items) -> list[dict]:
    rows = []
    for system in systems:
        refs, hyps, compute, audio_s = [], [], 0.0, 0.0
        for audio, text in items:
            start = time.perf_counter()
            hyp = system(audio)
            compute += time.perf_counter() - start
            audio_s += audio.size / 16000
            refs.append(text)
            hyps.append(normalize_text(hyp))
        rows.append(
            {"system": system.name, "wer": wer(refs, hyps), "cer": cer(refs, hyps), "rtf": compute / audio_s, "n": len(refs)}
        )
    return rows


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(results)
    systems = [r["system"] for r in results[sets[0]]]
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(sets), 3.6))
    width = 0.8 / len(systems)
    for k, system in enumerate(systems):
        values = [100 * next(r["wer"] for r in results[s] if r["system"] == system) for s in sets]
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
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-pocketsphinx", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "asr_compare"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    recognizer = Recognizer.load(args.model)
    systems = [Ours(recognizer, 1, False)]
    if recognizer.lm is not None:
        systems.append(Ours(recognizer, 8, True))
    if not args.no_pocketsphinx:
        systems.append(PocketSphinx())

    results = {}
    for manifest in args.manifests:
        entries = read_manifest(manifest)[: args.limit]
        items = [(load_audio(e.audio), normalize_text(e.text)) for e in entries]
        results[Path(manifest).stem] = run(systems, items)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"model": args.model, "results": results}, indent=2) + "\n")
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
