"""Train the LSTM reply model (thin wrapper over dialogue.train.main; same flags as `assistant train-dialogue`).

Example (one CPU thread, best checkpoint exported for shipping):
    python scripts/train_dialogue.py --train data/dialogue/train.jsonl --valid data/dialogue/valid.jsonl \
        --out runs/dialogue_base --model base --threads 1 --time-limit 95 --export dialogue/pretrained/en.pt
Several processes: torchrun --standalone --nproc_per_node 2 scripts/train_dialogue.py ...
"""

import sys

from dialogue.train import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
