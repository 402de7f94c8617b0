"""Turn a training checkpoint into the shipped model: fp16 weights + the word LM beside it.

    .venv/bin/python scripts/export_speech_model.py runs/speech/best.pt --lm runs/lm/en2.arpa.gz \
        --out speech/pretrained/en.pt

Writes en.pt (weights-only loadable, weights stored as float16 and read back as float32)
and copies the LM to en.arpa.gz next to it, where `Recognizer.load("en")` finds it.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speech import Recognizer  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--lm", required=True, help="ARPA (.arpa or .arpa.gz) built by scripts/build_lm.py")
    parser.add_argument("--out", default="speech/pretrained/en.pt")
    args = parser.parse_args(argv)
    recognizer = Recognizer.load(args.checkpoint, lm=args.lm)
    out = recognizer.save(args.out, half=True)
    suffix = ".arpa.gz" if args.lm.endswith(".gz") else ".arpa"
    lm_out = out.with_suffix(suffix)
    shutil.copyfile(args.lm, lm_out)
    total = (out.stat().st_size + lm_out.stat().st_size) / 1e6
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB) + {lm_out} ({lm_out.stat().st_size / 1e6:.1f} MB) = {total:.1f} MB")


if __name__ == "__main__":
    main()
