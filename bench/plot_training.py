"""Learning curve of a speech training run that went through several output folders.

    python bench/plot_training.py runs/speech runs/speech3 --out bench/results/speech_training.png

Each folder holds train.log (a "loss L ... H h audio seen" line every few steps) and metrics.jsonl
(dev WER/CER). A later folder that started from an earlier one's weights (--init-from) continues its
curve: its hours are shifted by the hours the earlier folders had seen. The picture shows the training
loss per utterance (smoothed) and the dev CER against the hours of audio seen.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

LINE = re.compile(r"loss ([0-9.]+) .*?\| ([0-9.]+) h audio seen")


def read_run(folder: Path) -> tuple[list[tuple[float, float]], list[tuple[float, float, float]]]:
    losses = []
    log = folder / "train.log"
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            m = LINE.search(line)
            if m:
                losses.append((float(m.group(2)), float(m.group(1))))
    dev = []
    metrics = folder / "metrics.jsonl"
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                dev.append((d["audio_hours_seen"], d["wer"], d["cer"]))
    return losses, dev


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="output folders in training order")
    p.add_argument("--out", default="bench/results/speech_training.png")
    args = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    offset = 0.0
    for folder in map(Path, args.runs):
        losses, dev = read_run(folder)
        if not losses and not dev:
            raise SystemExit(f"plot_training: no train.log or metrics.jsonl in {folder}")
        if losses:
            h, loss = np.array(losses).T
            k = min(15, len(loss))
            smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
            ax1.plot(h[k - 1:] + offset, smooth, label=folder.name)
        if dev:
            h, _, c = np.array(dev).T
            ax2.plot(h + offset, 100 * c, marker=".", label=folder.name)
        offset += max([x[0] for x in losses] + [x[0] for x in dev])
    ax1.set_xlabel("hours of (augmented) audio seen")
    ax1.set_ylabel("CTC loss per utterance")
    ax1.set_title("training loss (smoothed)")
    ax2.set_xlabel("hours of (augmented) audio seen")
    ax2.set_ylabel("CER %")
    ax2.set_title("dev CER (39 real utterances)")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
