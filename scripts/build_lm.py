"""Build the word n-gram LM for beam search from text the project can rebuild.

    .venv/bin/python scripts/build_lm.py data/text/assistant_lm.txt --order 3 --out speech/pretrained/en.arpa.gz

Input: text files, one sentence per line (normalised here again with speech.vocab).
Words seen fewer than --min-count times become <unk>, which keeps the shipped
ARPA small without inventing n-grams that never occurred.

--general-english WEIGHT mixes in general written English: a bigram model from the
Google Books word and word-pair counts (CC BY 3.0, "Google Books Ngram Viewer,
http://books.google.com/ngrams") that PyPI `symspellpy` ships (MIT; its two lists
keep the 82,765 most frequent words and 243,342 most frequent pairs). The text LM
knows what people say to an assistant; read speech (books, game scripts) needs the
wider vocabulary and word order of books. --general-words caps the words taken.
"""
from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import zipfile
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


GENERAL_ENGLISH_WHEEL = "symspellpy==6.10.1"
_UNIGRAMS = "symspellpy/frequency_dictionary_en_82_765.txt"
_BIGRAMS = "symspellpy/frequency_bigramdictionary_en_243_342.txt"


def general_english_lm(downloads: Path, max_words: int | None = None) -> NGramLM:
    """The Google Books frequency lists of symspellpy as a bigram model (downloaded once into `downloads`)."""
    downloads.mkdir(parents=True, exist_ok=True)
    wheels = sorted(downloads.glob("symspellpy-6.10.1-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", GENERAL_ENGLISH_WHEEL, "-d", str(downloads)],
                       check=True)
        wheels = sorted(downloads.glob("symspellpy-6.10.1-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        uni_lines = z.read(_UNIGRAMS).decode("utf-8").splitlines()
        bi_lines = z.read(_BIGRAMS).decode("utf-8").splitlines()
    unigrams: dict[str, int] = {}
    for line in uni_lines:
        parts = line.split()
        word = normalize_text(parts[0]) if len(parts) == 2 else ""
        if word and " " not in word and word not in unigrams:  # the list is lower case already; keep its spelling
            unigrams[word] = int(parts[1])
    if max_words:
        unigrams = dict(sorted(unigrams.items(), key=lambda kv: -kv[1])[:max_words])
    bigrams = {}
    for line in bi_lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] in unigrams and parts[1] in unigrams:
            bigrams[(parts[0], parts[1])] = int(parts[2])
    return NGramLM.from_frequency_lists(unigrams, bigrams)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("texts", nargs="+", help="text files, one sentence per line")
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--min-count", type=int, default=2, help="drop words seen fewer times (default 2)")
    parser.add_argument("--max-lines", type=int, default=None)
    parser.add_argument("--out", required=True, help="ARPA file to write (.gz compresses)")
    parser.add_argument("--general-english", type=float, default=0.0, metavar="WEIGHT",
                        help="mix in the Google Books bigram model with this weight in (0, 1) (default 0: none)")
    parser.add_argument("--general-words", type=int, default=None, metavar="N",
                        help="take only the N most frequent Google Books words (default: all 82,765)")
    parser.add_argument("--downloads", default="data/text/downloads", help="where the symspellpy wheel is kept")
    parser.add_argument("--mix", action="append", default=[], metavar="TEXT:WEIGHT",
                        help="also build an LM from TEXT (same order, every word kept) and interpolate it with this "
                             "weight, e.g. data/text/read_train.txt:0.2 for read sentences; repeatable")
    args = parser.parse_args(argv)
    mixes = []
    for spec in args.mix:
        path, _, weight = spec.rpartition(":")
        try:
            w = float(weight)
        except ValueError:
            parser.error(f"--mix {spec!r}: expected TEXT:WEIGHT")
        if not path or not 0 < w < 1:
            parser.error(f"--mix {spec!r}: expected TEXT:WEIGHT with a weight in (0, 1)")
        if not Path(path).is_file():
            parser.error(f"--mix {spec!r}: {path} not found")
        mixes.append((path, w))
    if not 0 <= args.general_english < 1:
        parser.error("--general-english must be in [0, 1)")
    if args.general_words is not None and args.general_words < 1:
        parser.error("--general-words must be >= 1")
    if sum(w for _, w in mixes) + args.general_english >= 1:
        parser.error("--mix and --general-english weights must sum to less than 1")

    sentences = read_sentences(args.texts, args.max_lines)
    counts = collections.Counter(w for s in sentences for w in s.split())
    keep = {w for w, c in counts.items() if c >= args.min_count}
    sentences = [" ".join(w if w in keep else "<unk>" for w in s.split()) for s in sentences]
    lm = NGramLM.build(sentences, order=args.order, progress=True)
    parts, weights = [lm], []
    for path, w in mixes:
        parts.append(NGramLM.build(read_sentences([path], None), order=args.order))
        weights.append(w)
    if args.general_english > 0:
        parts.append(general_english_lm(Path(args.downloads), args.general_words))
        weights.append(args.general_english)
    if len(parts) > 1:
        lm = NGramLM.interpolate(parts, [1.0 - sum(weights), *weights])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lm.save_arpa(out)
    print(f"{out}: {len(lm.vocab)} words, order {lm.order}, {out.stat().st_size / 1e6:.1f} MB from {len(sentences)} sentences")


if __name__ == "__main__":
    main()
