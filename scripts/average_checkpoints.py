"""Average the weights of several checkpoints of one training run (a cheap ensemble for a single model).

    .venv/bin/python scripts/average_checkpoints.py runs/speech8/snaps/latest_*.pt --out runs/speech8/avg.pt

Checkpoints late in one run (same architecture, same trajectory, small learning rate) lie close
together; their mean often scores better than any one of them. The output keeps the first
checkpoint's configs, alphabet and metrics, without optimizer state: `Recognizer.load` and
`scripts/export_speech_model.py` read it like any checkpoint.

It also works across runs of one lineage: the shipped stage 10 is the mean of stage 8 and a run
initialised from it (`runs/speech10/latest.pt runs/speech13/latest.pt`), which beat both on the tuning
set. Runs trained from different random starts do not average: their units are not aligned.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

KEEP = ("format", "version", "acoustic_config", "feature_config", "alphabet", "metrics")


def average(paths: list[str]) -> dict:
    if len(paths) < 2:
        raise ValueError("give at least two checkpoints to average")
    first = torch.load(paths[0], map_location="cpu", weights_only=False)
    total = {k: v.double() if v.is_floating_point() else v.clone() for k, v in first["state_dict"].items()}
    steps = [first.get("step")]
    for path in paths[1:]:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        steps.append(ckpt.get("step"))
        if ckpt.get("acoustic_config") != first.get("acoustic_config") or set(ckpt["state_dict"]) != set(total):
            raise ValueError(f"{path} is a different model than {paths[0]}")
        for k, v in ckpt["state_dict"].items():
            if v.is_floating_point():
                total[k] += v.double()
            elif not torch.equal(v, total[k]):
                raise ValueError(f"{path}: integer tensor {k} differs; cannot average")
    out = {k: first[k] for k in KEEP if k in first}
    out["state_dict"] = {k: (v / len(paths)).to(first["state_dict"][k].dtype) if v.is_floating_point() else v
                         for k, v in total.items()}
    out["metrics"] = {**(first.get("metrics") or {}), "averaged_from": [str(p) for p in paths], "steps": steps}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        ckpt = average(args.checkpoints)
    except (OSError, ValueError, KeyError) as exc:
        print(f"average_checkpoints: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, out)
    print(f"{out}: mean of {len(args.checkpoints)} checkpoints (steps {ckpt['metrics']['steps']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
