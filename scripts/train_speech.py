#!/usr/bin/env python3
"""Train the CTC acoustic model (thin wrapper over speech.train.main).

Example (CPU, one thread, real speech weighted 3x):
    python scripts/train_speech.py --preset default --train data/speech/real_train.jsonl:3 \\
        data/speech/synth_train.jsonl --dev data/speech/real_dev.jsonl --out runs/speech --threads 1
Under torchrun every process runs this same command (DDP; rank 0 writes the checkpoints).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speech.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
