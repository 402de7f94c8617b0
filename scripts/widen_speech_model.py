"""Widen a trained acoustic model's recurrent layers without changing what it computes (Net2WiderNet).

    .venv/bin/python scripts/widen_speech_model.py speech/pretrained/en.pt --hidden 512 --out runs/wide/init.pt
    .venv/bin/python scripts/train_speech.py --init-from runs/wide/init.pt --hidden 512 ...

Why: the 3 x 320 LSTM shipped until `en` speech model 2026-11-29b underfit its own training data (greedy CER 24-37 % on training clips
without augmentation), and training a wider model from scratch costs days of CPU. The widened copy
starts with the trained model's accuracy (see `speech.model.widen_model`), so a continued run only
has to put the new units to use (the shipped 3 x 512 model was made this way). The input is a shipped model name or a checkpoint; the output is
written by `Recognizer.save`, so `--init-from`, `Recognizer.load` and `scripts/export_speech_model.py` read it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speech import Recognizer  # noqa: E402
from speech.model import widen_model  # noqa: E402


def widen(source: str, hidden: int, noise: float, seed: int) -> Recognizer:
    """The model of `source` (a shipped name or a checkpoint) widened; alphabet, features and decoder settings kept."""
    recognizer = Recognizer.load(source)
    old_hidden = recognizer.model.config.hidden
    recognizer.model = widen_model(recognizer.model, hidden, noise=noise, seed=seed).eval()
    recognizer.metrics = {"widened_from": str(source), "hidden": [old_hidden, hidden], "noise": noise, "seed": seed}
    return recognizer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--hidden", type=int, required=True, help="units per recurrent layer after widening")
    parser.add_argument("--noise", type=float, default=0.01,
                        help="symmetry-breaking noise on the new units, in weight standard deviations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        recognizer = widen(args.checkpoint, args.hidden, args.noise, args.seed)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        print(f"widen_speech_model: {exc}", file=sys.stderr)
        return 2
    out = recognizer.save(args.out)  # the same checkpoint format as every model: --init-from, Recognizer.load
    old_hidden = recognizer.metrics["hidden"][0]
    print(f"{out}: hidden {old_hidden} -> {args.hidden}, {recognizer.model.num_parameters():,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
