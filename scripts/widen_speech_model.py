"""Widen a trained acoustic model's recurrent layers without changing what it computes (Net2WiderNet).

    .venv/bin/python scripts/widen_speech_model.py speech/pretrained/en.pt --hidden 512 --out runs/wide/init.pt
    .venv/bin/python scripts/train_speech.py --init-from runs/wide/init.pt --hidden 512 ...

Why: the shipped 3 x 320 LSTM underfits its own training data (greedy CER 24-37 % on training clips
without augmentation), and training a wider model from scratch costs days of CPU. The widened copy
starts with the trained model's accuracy (see `speech.model.widen_model`), so a continued run only
has to put the new units to use. The output reads like any checkpoint: `--init-from`,
`Recognizer.load`, `scripts/export_speech_model.py`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speech.model import AcousticConfig, AcousticModel, widen_model  # noqa: E402
from speech.train import _atomic_save  # noqa: E402

KEEP = ("format", "version", "feature_config", "alphabet", "decoding")


def widen_checkpoint(path: str, hidden: int, noise: float, seed: int) -> dict:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "acoustic_config" not in ckpt:
        raise ValueError(f"{path} is not a speech checkpoint (no state_dict / acoustic_config)")
    model = AcousticModel(AcousticConfig.from_dict(ckpt["acoustic_config"]))
    model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
    wide = widen_model(model, hidden, noise=noise, seed=seed)
    out = {k: ckpt[k] for k in KEEP if k in ckpt}
    out["acoustic_config"] = wide.config.to_dict()
    out["state_dict"] = wide.state_dict()
    out["metrics"] = {"widened_from": str(path), "hidden": [model.config.hidden, hidden], "noise": noise,
                      "seed": seed}
    return out


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
        ckpt = widen_checkpoint(args.checkpoint, args.hidden, args.noise, args.seed)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        print(f"widen_speech_model: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    _atomic_save(ckpt, out)  # the trainer's: a crash never leaves half a checkpoint behind
    n = sum(v.numel() for v in ckpt["state_dict"].values() if v.is_floating_point())
    print(f"{out}: hidden {ckpt['metrics']['hidden'][0]} -> {args.hidden}, {n:,} weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
