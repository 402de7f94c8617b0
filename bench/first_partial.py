"""How late the recognizer itself shows its first words: speech onset -> first partial, without a server.

    .venv/bin/python bench/first_partial.py [MANIFEST] [--models en,OTHER.pt] [--recordings 64] [--out JSON]

Streams the load test's recordings (the same manifest, selection and onset detector as
`bench/load_test.py`) through `Recognizer.stream` in 100 ms chunks with greedy partials, as the server
does, and reports, in seconds of audio, when the first non-empty partial appears after the speech
onset. This is the part of the load test's "first partial" latency that no server can remove: the
acoustic model's own emission delay plus the 100 ms frame. Compare it with `load_test`'s figure at a
given load to see what the server adds.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import load_test  # noqa: E402
from speech import Recognizer  # noqa: E402


def emission_delays_ms(recognizer: Recognizer, recordings) -> list[float]:
    """Per recording with a partial after its onset: ms of audio from the onset to the first partial."""
    out = []
    for rec in recordings:
        stream = recognizer.stream(defer_search=True)
        heard = 0.0
        for frame in rec.pcm:
            samples = np.frombuffer(frame, "<i2").astype(np.float32) / 32768.0
            heard += samples.size / load_test.SR
            if stream.feed(samples).text.strip() and heard >= rec.onset:
                out.append((heard - rec.onset) * 1000.0)
                break
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", nargs="?", default=str(load_test.DEFAULT_MANIFEST))
    parser.add_argument("--models", default="en", help="comma-separated model names or checkpoints")
    parser.add_argument("--recordings", type=int, default=64, help="as load_test --recordings")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    manifest = Path(args.manifest)
    if not manifest.is_file():
        raise SystemExit(f"first_partial: manifest not found: {manifest}")
    if args.recordings < 1:
        raise SystemExit("first_partial: --recordings must be at least 1")
    torch.set_num_threads(1)
    recordings = load_test.from_manifest(manifest, args.recordings)
    results = {"manifest": str(manifest), "recordings": len(recordings), "frame_ms": load_test.FRAME_MS,
               "target_ms": load_test.TARGETS["first_partial_ms"], "models": {}}
    for name in [m for m in args.models.split(",") if m]:
        delays = emission_delays_ms(Recognizer.load(name), recordings)
        row = load_test.percentiles(delays) or {"n": 0}
        row["without_partial"] = len(recordings) - len(delays)
        results["models"][name] = row
        spread = f"p50 {row['p50']:.0f}, p95 {row['p95']:.0f}, max {row['max']:.0f} " if delays else ""
        print(f"{name}: onset -> first partial, ms of audio: {spread}({row['n']} recordings; "
              f"{row['without_partial']} with none)", flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
