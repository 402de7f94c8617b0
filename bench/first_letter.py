"""How often a model's greedy transcript starts with the right letter: the onset failure of issue 3.

    .venv/bin/python bench/first_letter.py data/speech/real_dev.jsonl data/speech/real_test.jsonl \
        data/speech/drascula.jsonl --models OLD.pt,en --sample 200

A one-way CTC model that learned to put a guessed first letter on its first output frames gets the
first letter right about as often as a guess (the shipped model before `silent_start`: 5 %).
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speech import Recognizer, load_audio  # noqa: E402
from speech.data import read_manifest  # noqa: E402


def first_letter_rate(recognizer: Recognizer, entries) -> float:
    right = 0
    for e in entries:
        hyp = recognizer.transcribe(load_audio(e.audio)).text.strip()
        right += bool(hyp) and hyp[0] == e.text.strip()[0]
    return right / len(entries)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifests", nargs="+")
    parser.add_argument("--models", default="en", help="comma-separated model names or checkpoints")
    parser.add_argument("--sample", type=int, default=200, help="utterances drawn at random (seed 0) from all manifests")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    entries = [e for m in args.manifests for e in read_manifest(m) if e.text.strip()]
    if not entries:
        print("first_letter: no utterances with text", file=sys.stderr)
        return 2
    random.Random(0).shuffle(entries)
    entries = entries[: args.sample]
    for name in args.models.split(","):
        rate = first_letter_rate(Recognizer.load(name, lm=None, beam_size=1), entries)
        print(f"{name}: first letter right in {100 * rate:.0f} % of {len(entries)} utterances (greedy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
