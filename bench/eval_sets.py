"""Split test manifests into the sets the speech model card reports apart.

    .venv/bin/python bench/eval_sets.py ../shared/data/speech/test.jsonl --out data/speech/eval

writes one manifest per set into OUT, with audio paths relative to OUT:

- ``speechocean762_test_adults`` / ``speechocean762_test_children`` (children: ``age`` below 18; the
  corpus gives an age on every row),
- ``speech_commands_test_digits`` (zero to nine) / ``speech_commands_test_words`` (the other words),
- one manifest per remaining corpus (``cmu_arctic_test``...).

Every row lands in exactly one set. Then, for example:

    .venv/bin/python bench/compare_asr.py data/speech/eval/*.jsonl --phrases bench/speech_commands.txt
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from pathlib import Path

DIGITS = frozenset("zero one two three four five six seven eight nine".split())
ADULT_AGE = 18


def set_name(row: dict, split: str) -> str:
    """The evaluation set of one manifest row."""
    corpus = row.get("corpus") or "unknown"
    if corpus == "speechocean762":
        age = row.get("age")
        if not isinstance(age, (int, float)):
            raise ValueError(f"speechocean762 row {row.get('audio')!r} has no numeric age")
        return f"{corpus}_{split}_{'children' if age < ADULT_AGE else 'adults'}"
    if corpus == "speech_commands":
        return f"{corpus}_{split}_{'digits' if str(row.get('text', '')).strip().lower() in DIGITS else 'words'}"
    return f"{corpus}_{split}"


def split_manifest(manifest: Path, out: Path) -> dict[str, int]:
    """Write OUT/<set>.jsonl for every set of ``manifest``; returns the row count per set."""
    if not manifest.is_file():
        raise ValueError(f"manifest not found: {manifest}")
    split = manifest.stem
    base = manifest.resolve().parent
    sets: dict[str, list[dict]] = defaultdict(list)
    with open(manifest, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{manifest}:{lineno}: not valid JSON ({exc.msg})") from None
            audio = Path(row["audio"])
            audio = audio if audio.is_absolute() else base / audio
            row["audio"] = os.path.relpath(audio, out.resolve())
            sets[set_name(row, split)].append(row)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in sets.items():
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    return {name: len(rows) for name, rows in sorted(sets.items())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifests", nargs="+", type=Path, help="test or dev manifests (their file name names the split)")
    ap.add_argument("--out", type=Path, default=Path("data/speech/eval"))
    args = ap.parse_args(argv)
    try:
        for manifest in args.manifests:
            for name, n in split_manifest(manifest, args.out).items():
                print(f"{args.out / name}.jsonl: {n} utterances")
    except (ValueError, KeyError) as exc:
        raise SystemExit(f"eval_sets: {exc}") from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
