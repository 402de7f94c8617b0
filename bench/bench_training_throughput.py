"""Training throughput of the speech model as real runs see it: the real `speech.train.train()` loop.

    .venv/bin/python bench/bench_training_throughput.py --train ../shared/data/speech/train.jsonl \\
        --corpus-weights speechocean762=1,kathleen=0.3,picovoice_wakeword=0.3,speech_commands=4,an4=5 \\
        --init-from speech/pretrained/en.pt --augment '{"pad_prob": 0.8, ...}' --batch-seconds 40 \\
        --workers 1 --steps 60 --label before

`bench/bench_train_step.py` times one training step on synthetic batches; this runs `train()` itself
(manifest, sampler, augmentation, feature extraction, DataLoader, the step, the log) for `--steps` steps
into a temporary directory and reports

- audio seconds per wall second, and per CPU second of the training process and its DataLoader
  workers together ("per core": on a shared machine wall time depends on the neighbours, CPU time
  much less);
- where the loop's wall time went: waiting for the next batch vs the training step;
- padding waste: padded frames that the LSTM runs through but no utterance owns;
- with `--transforms N`: the CPU cost of decoding and of each augmentation, per audio second, on N
  real clips of the manifest (each transform applied to every clip, whatever its probability).

Audio seconds are those the batches hold (after room-tone padding and speed changes), as in the
training log. The result is added under `--label` to bench/results/training_throughput.json.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech.train import _parse_corpus_weights, _parse_weighted, make_config, train  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _cpu_seconds() -> tuple[float, float]:
    """(this process, its finished children) user + system CPU seconds."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system


def time_transforms(manifest: str, n: int, seed: int = 0) -> dict:
    """CPU seconds per audio second of decoding and of each augmentation step, on `n` clips."""
    from speech import augment as A
    from speech.audio import load_audio
    from speech.data import read_manifest
    from speech.features import FeatureConfig, FeatureExtractor

    entries = read_manifest(manifest)
    rng = np.random.default_rng(seed)
    pick = [entries[int(k)] for k in rng.choice(len(entries), size=min(n, len(entries)), replace=False)]
    extractor = FeatureExtractor(FeatureConfig())
    cfg = A.AugmentConfig()
    costs: dict[str, float] = {}

    def timed(name, fn, *args):
        t0 = time.process_time()
        out = fn(*args)
        if warm:  # the first clip only warms up (imports, JIT compilation, filter design)
            costs[name] = costs.get(name, 0.0) + time.process_time() - t0
        return out

    seconds = 0.0
    for k, e in enumerate([pick[0]] + pick):
        warm = k > 0
        x = timed("decode (load_audio)", load_audio, e.audio)
        seconds += len(x) / 16000 if warm else 0.0
        r = np.random.default_rng([seed, k])
        timed("pad_room_tone", A.pad_room_tone, x, 4000, 4000, r)
        timed("speed_perturb", A.speed_perturb, x, 1.1)
        timed("pitch_shift", A.pitch_shift, x, 1.3)
        timed("reverberate (with rir)", lambda: A.reverberate(x, A.synthetic_rir(0.5, r, wet=0.6)))
        for colour in A.NOISE_COLOURS:
            timed(f"noise {colour}", lambda c=colour: A.add_noise(x, A.coloured_noise(len(x), c, r), 10.0))
        timed("telephone_band", A.telephone_band, x)
        timed("codec mulaw", A.codec_degrade, x, "mulaw")
        timed("gain", A.apply_gain, x, -3.0)
        feats = timed("features (log-mel)", extractor, x)
        timed("vtlp_warp", A.vtlp_warp, feats, 1.07)
        timed("spec_augment", A.spec_augment, feats, r)
    return {"clips": len(pick), "audio_seconds": round(seconds, 1),
            "cpu_ms_per_audio_second": {k: round(1000 * v / seconds, 3) for k, v in costs.items()}}


def _warm_up() -> None:
    """Run every augmentation once, so one-time costs (librosa's lazy imports, numba compilation, filter
    design) fall before the measured loop; forked DataLoader workers inherit them. A real run pays them
    once in hours, a 60-step bench would count them in full."""
    from speech.augment import AugmentConfig, Augmenter

    everything = AugmentConfig(pad_prob=1, speed_prob=1, pitch_prob=1, gain_prob=1, noise_prob=1, reverb_prob=1,
                               telephone_prob=1, codec_prob=1, warp_prob=1, eq_prob=1, spec_prob=1)
    x = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    for seed in range(5):
        Augmenter(everything)(x, np.random.default_rng(seed))


def run_training(args, out_dir: Path) -> dict:
    paths, weights = _parse_weighted(args.train)
    over = dict(train_manifests=paths, train_weights=weights, out_dir=str(out_dir), max_steps=args.steps,
                schedule_steps=args.steps, eval_every=0, checkpoint_minutes=1e9, log_every=args.log_every,
                progress=False, batch_seconds=args.batch_seconds, num_workers=args.workers,
                threads=args.threads, seed=args.seed, resume=False, lr=args.lr, warmup_steps=10)
    if args.preload:
        over["preload_audio"] = True
    if args.corpus_weights:
        over["corpus_weights"] = _parse_corpus_weights(args.corpus_weights)
    if args.init_from:
        over["init_from"] = args.init_from
    model = {k: getattr(args, k) for k in ("hidden", "layers", "stack", "stride", "silent_start")
             if getattr(args, k) is not None}
    if model:
        over["model"] = model
    over["augment"] = json.loads(args.augment) if args.augment else {"off": True}
    for item in args.set:
        k, _, v = item.partition("=")
        over[k] = json.loads(v)
    config = make_config(args.preset, **over)
    _warm_up()
    own0, kids0 = _cpu_seconds()
    wall0 = time.perf_counter()
    train(config)
    gc.collect()  # the DataLoader workers are joined by now; their CPU time is in children
    wall = time.perf_counter() - wall0
    own1, kids1 = _cpu_seconds()
    speed = json.loads((out_dir / "speed.json").read_text())
    loop = speed["total"]
    # the loop's share of the CPU: the whole run minus what came before and after the loop
    # (manifest reading, model set-up, the final evaluation), which `train` measures on its own thread
    workers_cpu = kids1 - kids0
    main_cpu = loop["main_cpu_seconds"]
    return {"config": {k: v for k, v in config.to_dict().items()
                       if k in ("batch_seconds", "num_workers", "threads", "augment", "model", "corpus_weights",
                                "max_batch_items", "bucket_size", "seed", "preload_audio", "audio_cache_mb")} | {"extra": args.set},
            "steps": loop["steps"], "audio_seconds": round(loop["audio_seconds"], 1),
            "manifest_seconds": round(loop["manifest_seconds"], 1),
            "loop_wall_seconds": round(loop["wall_seconds"], 2),
            "audio_s_per_wall_s": round(loop["audio_seconds"] / loop["wall_seconds"], 1),
            "main_cpu_seconds": round(main_cpu, 2), "worker_cpu_seconds": round(workers_cpu, 2),
            "audio_s_per_cpu_s": round(loop["audio_seconds"] / max(main_cpu + workers_cpu, 1e-9), 1),
            "audio_s_per_main_cpu_s": round(loop["audio_seconds"] / max(main_cpu, 1e-9), 1),
            "data_wait_fraction": round(loop["data_wait_seconds"] / loop["wall_seconds"], 3),
            "step_fraction": round(loop["step_seconds"] / loop["wall_seconds"], 3),
            "padding_waste": round(1 - loop["real_frames"] / max(loop["padded_frames"], 1), 3),
            "mean_batch_items": round(loop["items"] / max(loop["steps"], 1), 1),
            "whole_run_wall_seconds": round(wall, 1), "whole_run_cpu_seconds": round(own1 - own0 + workers_cpu, 1)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", nargs="+", required=True, metavar="MANIFEST[:WEIGHT]")
    p.add_argument("--corpus-weights", default=None)
    p.add_argument("--preset", default="default")
    p.add_argument("--init-from", default=None, help="checkpoint whose weights (and so model size) to start from")
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--stack", type=int, default=None)
    p.add_argument("--stride", type=int, default=None)
    p.add_argument("--silent-start", type=int, default=None, dest="silent_start")
    p.add_argument("--augment", default=None, help="JSON object of AugmentConfig overrides (default: off)")
    p.add_argument("--batch-seconds", type=float, default=40.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=2401)
    p.add_argument("--preload", action="store_true",
                   help="decode the training audio before the loop (TrainConfig.preload_audio): the steady state of "
                        "epochs after the first, where the audio cache holds everything")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=JSON", help="other TrainConfig fields")
    p.add_argument("--transforms", type=int, default=0, metavar="N", help="also time each transform on N clips")
    p.add_argument("--label", default="run", help="name of this measurement in the results file")
    p.add_argument("--note", default="", help="what else ran on the machine, etc.")
    p.add_argument("--results", default=str(RESULTS / "training_throughput.json"))
    args = p.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    result: dict = {"label": args.label, "note": args.note, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "machine": f"{platform.machine()} {os.cpu_count()} CPUs", "torch": torch.__version__,
                    "niceness": os.nice(0)}
    if args.steps > 0:
        with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
            result["training"] = run_training(args, Path(tmp) / "run")
    if args.transforms:
        result["transforms"] = time_transforms(_parse_weighted(args.train)[0][0], args.transforms, args.seed)
    path = Path(args.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(path.read_text()) if path.is_file() else {}
    results[args.label] = result
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
