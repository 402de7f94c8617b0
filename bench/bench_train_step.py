"""Training speed of the speech model: audio seconds per second of one training step on one CPU thread.

    .venv/bin/python bench/bench_train_step.py [--hidden 320 512] [--batch-seconds 40] [--steps 8]

Times `speech.train.train_step` (forward, CTC loss, backward, AdamW update) on random log-mel batches
shaped like the trainer's: 40 s of audio in items of 2-4 s, bucketed so lengths differ by up to a
quarter. Two ways to run the recurrent layers are compared on the same batches:

- packed: `pack_padded_sequence`, what the model does when it must hand back each item's final state
  (streaming); PyTorch's CPU LSTM then runs time step by time step, backward too;
- padded: `final_state=False`, what the trainer asks for: a one-way model runs the padded batch through
  the fused kernel (oneDNN on the CPU); padding after an item's end cannot change its earlier outputs.

Data loading, augmentation and the padding of real batches are not included: this is the ceiling of
a real run, which `bench/bench_training_throughput.py` measures. Results go to
bench/results/speech_train_step.json and print as a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech.data import Batch  # noqa: E402
from speech.model import AcousticConfig, AcousticModel  # noqa: E402
from speech.train import train_step  # noqa: E402
from speech.vocab import Alphabet  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FRAMES_PER_SECOND = 100  # 10 ms feature hop


def batches(batch_seconds: float, n: int, n_mels: int, vocab: int, seed: int = 0) -> list[Batch]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        longest = 2.0 + 2.0 * float(torch.rand((), generator=gen))
        count = max(1, int(batch_seconds // longest))
        seconds = longest * (0.75 + 0.25 * torch.rand(count, generator=gen))
        seconds[0] = longest
        frames = (seconds * FRAMES_PER_SECOND).long()
        feats = torch.randn(count, int(frames.max()), n_mels, generator=gen)
        label_lengths = (seconds * 12).long()  # ~12 letters per second, as in read speech
        labels = torch.randint(1, vocab, (count, int(label_lengths.max())), generator=gen)  # (B, L), padded
        out.append(Batch(feats=feats, feat_lengths=frames, labels=labels, label_lengths=label_lengths,
                         texts=[""] * count, indices=list(range(count)), seconds=float(seconds.sum())))
    return out


def time_steps(model: AcousticModel, work: list[Batch], padded: bool) -> float:
    """Audio seconds per wall second over `work` (after one warm-up step)."""
    if not padded:  # the packed path: what forward does when a final state is wanted
        model.forward = lambda feats, lengths=None, state=None, **_: AcousticModel.forward(model, feats, lengths, state)
    else:
        model.__dict__.pop("forward", None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    train_step(model, work[0], optimizer)
    start = time.perf_counter()
    for batch in work:
        train_step(model, batch, optimizer)
    elapsed = time.perf_counter() - start
    return sum(b.seconds for b in work) / elapsed


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, nargs="+", default=[320, 512])
    parser.add_argument("--batch-seconds", type=float, default=40.0)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    vocab = len(Alphabet())
    rows = []
    for hidden in args.hidden:
        config = AcousticConfig(hidden=hidden, layers=3, stack=3, stride=3, vocab_size=vocab, silent_start=4)
        model = AcousticModel(config)
        work = batches(args.batch_seconds, args.steps, config.n_mels, vocab)
        packed = time_steps(model, work, padded=False)
        padded = time_steps(model, work, padded=True)
        rows.append({"hidden": hidden, "layers": 3, "parameters": model.num_parameters(),
                     "packed_audio_s_per_s": round(packed, 1), "padded_audio_s_per_s": round(padded, 1),
                     "speedup": round(padded / packed, 2)})
    result = {"batch_seconds": args.batch_seconds, "steps": args.steps, "threads": 1, "rows": rows,
              "onednn": torch.backends.mkldnn.is_available(),
              "machine": platform.processor() or platform.machine(), "torch": torch.__version__}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "speech_train_step.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| model | parameters | packed (audio s/s) | padded, `final_state=False` (audio s/s) | speedup |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| 3 x {r['hidden']} LSTM | {r['parameters']:,} | {r['packed_audio_s_per_s']} | "
              f"{r['padded_audio_s_per_s']} | {r['speedup']}x |")
    return result


if __name__ == "__main__":
    main()
