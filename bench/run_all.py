"""Run every benchmark and leave results in bench/results/ (JSON, Markdown tables, PNG plots).

    make bench            # or: .venv/bin/python bench/run_all.py [--skip-asr]

ASR accuracy against PocketSphinx needs the test manifests made by
scripts/prepare_speech_data.py (data/speech/*_test.jsonl); it is skipped when they are absent.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def step(title: str, *args: str) -> None:
    print(f"\n## {title}\n", flush=True)
    subprocess.run([sys.executable, *args], check=True, cwd=ROOT)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-asr", action="store_true", help="skip the accuracy comparison")
    args = parser.parse_args(argv)
    step("Speech: architecture target (untrained 3x320 LSTM)", str(BENCH / "bench_speech.py"), "--model", "arch")
    step("Speech: shipped model", str(BENCH / "bench_speech.py"))
    step("Speech: training step (packed vs padded batches)", str(BENCH / "bench_train_step.py"))
    step("Dialogue: shipped model", str(BENCH / "bench_dialogue.py"))
    step("Server latency", str(BENCH / "bench_server.py"))
    step("Server capacity: concurrent real-time sessions", str(BENCH / "load_test.py"))
    manifests = sorted(str(p) for p in (ROOT / "data" / "speech").glob("*test*.jsonl"))
    if manifests and not args.skip_asr:
        step("Speech accuracy vs PocketSphinx", str(BENCH / "compare_asr.py"), *manifests)
    elif not args.skip_asr:
        print("\n(no data/speech/*test*.jsonl: run scripts/prepare_speech_data.py for the accuracy comparison)")


if __name__ == "__main__":
    main()
