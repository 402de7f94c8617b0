"""Dialogue speed benchmark: first-token latency and greedy tokens per second on one CPU thread.

    .venv/bin/python bench/bench_dialogue.py [--model en|PATH]

Targets (issue 4): first token within 20 ms, at least 300 tokens/s. Writes bench/results/dialogue.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dialogue import Responder  # noqa: E402
from dialogue.evaluate import measure_speed  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="en")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = {"model": args.model, **measure_speed(Responder.load(args.model))}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dialogue.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| model | first token ms (wall / cpu) | tokens/s (wall / cpu) |")
    print("|---|---:|---:|")
    print(
        f"| {args.model} | {result['first_token_ms_median']:.1f} / {result['first_token_ms_cpu_median']:.1f} "
        f"| {result['tokens_per_s_median']:.0f} / {result['tokens_per_s_cpu_median']:.0f} |"
    )
    return result


if __name__ == "__main__":
    main()
