"""Build the word n-gram LM for beam search from text the project can rebuild.

    .venv/bin/python scripts/build_lm.py data/text/assistant_lm.txt --order 3 --out speech/pretrained/en.arpa.gz

Input: text files, one sentence per line (normalised here again with speech.vocab).
Words seen fewer than --min-count times become <unk>, which keeps the shipped
ARPA small without inventing n-grams that never occurred.
"""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqdm import tqdm  # noqa: E402

from speech.lm import NGramLM  # noqa: E402
from speech.vocab import normalize_text  # noqa: E402


def read_sentences(paths: list[str], max_lines: int | None) -> list[str]:
    sentences = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in tqdm(fh, desc=f"reading {Path(path).name}", unit=" lines"):
                text = normalize_text(line)
                if text:
                    sentences.append(text)
                if max_lines and len(sentences) >= max_lines:
                    return sentences
    return sentences


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("texts", nargs="+", help="text files, one sentence per line")
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--min-count", type=int, default=2, help="drop words seen fewer times (default 2)")
    parser.add_argument("--max-lines", type=int, default=None)
    parser.add_argument("--out", required=True, help="ARPA file to write (.gz compresses)")
    args = parser.parse_args(argv)

    sentences = read_sentences(args.texts, args.max_lines)
    counts = collections.Counter(w for s in sentences for w in s.split())
    keep = {w for w, c in counts.items() if c >= args.min_count}
    sentences = [" ".join(w if w in keep else "<unk>" for w in s.split()) for s in sentences]
    lm = NGramLM.build(sentences, order=args.order, progress=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lm.save_arpa(out)
    print(f"{out}: {len(lm.vocab)} words, order {lm.order}, {out.stat().st_size / 1e6:.1f} MB from {len(sentences)} sentences")


if __name__ == "__main__":
    main()
