"""Synthetic speech build: prompts x voices -> 16 kHz mono FLAC + manifests, incremental and resumable.

Clip i always gets prompt i and a voice drawn from Random(f"{seed}:{i}"), so a rerun skips what
exists and produces the same data. Manifests are rewritten atomically every `batch` new clips, so
a reader (the training job) always sees complete lines.
"""
from __future__ import annotations

import json
import logging
import random
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf
from tqdm import tqdm

from .tts import Voice, VoiceSpec, check_clip, pick_voice, synthesize, to_16k, trim
from .util import read_jsonl, write_jsonl_atomic, write_text_atomic

__all__ = ["SynthConfig", "run_synthesis"]

log = logging.getLogger(__name__)


@dataclass
class SynthConfig:
    """Synthetic build settings."""
    out: Path                      # data/speech: FLAC under out/synth/<engine>/<voice>/, manifests in out/
    hours: float = 5.0             # stop when train + test audio reaches this many hours
    jobs: int = 1                  # worker processes (1 = synthesise in this process)
    seed: int = 1234               # voice/prosody seed (clip i uses Random(f"{seed}:{i}"))
    batch: int = 300               # new clips between atomic manifest rewrites
    max_clips: int | None = None   # stop after this many clip ids (for quick tests)
    first_clip: int = 0            # first prompt/clip id: a second build (other engines) in its own folder
                                   # starts further down the prompt list, so it speaks other sentences


def _clip_task(args: tuple[int, str, str, Voice, str]) -> dict:
    """Synthesise, check and write one clip. Runs in a worker; returns a manifest row or a rejection."""
    idx, src, text, voice, out = args
    rng = random.Random(f"post:{idx}")
    rel = Path("synth") / voice.engine / voice.name.replace("/", "_") / f"{idx:07d}.flac"
    path = Path(out) / rel
    with tempfile.TemporaryDirectory(prefix="tts") as tmp:
        try:
            raw, sr = synthesize(voice, text, Path(tmp))
        except Exception as exc:  # an engine crash or timeout costs one clip, never the run
            return {"id": idx, "rejected": f"engine error: {exc}"[:300], "voice": voice.label, "text": text}
    x = trim(to_16k(raw, sr), rng)
    chk = check_clip(raw, x, text)
    if not chk.ok:
        return {"id": idx, "rejected": chk.reason, "voice": voice.label, "text": text}
    peak = float(np.max(np.abs(x)))
    x = x * (rng.uniform(0.3, 0.95) / peak)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_suffix(".tmp.flac")
    sf.write(tmp_path, x, 16000, subtype="PCM_16", format="FLAC")
    tmp_path.replace(path)
    return {"id": idx, "audio": str(path.resolve()), "text": text, "duration": round(len(x) / 16000, 3),
            "speaker": voice.label, "corpus": f"synth_{voice.engine}", "engine": voice.engine,
            "voice": voice.name, "rate": voice.rate, "pitch": voice.pitch, "source": src,
            "test": voice.held_out}


def _summary(rows: list[dict]) -> dict:
    by_voice: dict[str, float] = defaultdict(float)
    by_engine: dict[str, float] = defaultdict(float)
    by_source: dict[str, float] = defaultdict(float)
    for r in rows:
        by_voice[r["speaker"]] += r["duration"] / 3600
        by_engine[r["engine"]] += r["duration"] / 3600
        by_source[r.get("source", "?")] += r["duration"] / 3600
    return {"clips": len(rows), "hours": round(sum(r["duration"] for r in rows) / 3600, 3),
            "voices": len(by_voice), "hours_by_engine": {k: round(v, 3) for k, v in sorted(by_engine.items())},
            "hours_by_source": {k: round(v, 3) for k, v in sorted(by_source.items())},
            "voice_families": sorted({k.split("+")[0] for k in by_voice})}


def run_synthesis(cfg: SynthConfig, prompts: list[tuple[str, str]], spec: VoiceSpec,
                  on_flush: Callable[[dict], None] | None = None) -> dict:
    """Produce clips until cfg.hours of audio exist (or prompts run out). Returns a summary."""
    out = cfg.out
    train_mf, test_mf = out / "synth_train.jsonl", out / "synth_test.jsonl"
    rej_path = out / "synth_rejected.jsonl"
    rows = {r["id"]: r for r in read_jsonl(train_mf) + read_jsonl(test_mf) if "id" in r}
    rejected = {r["id"]: r for r in read_jsonl(rej_path) if "id" in r}
    # a clip whose FLAC vanished is made again
    rows = {i: r for i, r in rows.items() if Path(r["audio"]).exists()}
    target = cfg.hours * 3600
    done = sum(r["duration"] for r in rows.values())
    log.info("synth: resuming with %d clips (%.2f h), %d rejected; target %.2f h; %d train voices available",
             len(rows), done / 3600, len(rejected), cfg.hours, len(spec.train_voices()))

    def flush() -> dict:
        ordered = [rows[i] for i in sorted(rows)]
        write_jsonl_atomic(train_mf, [r for r in ordered if not r["test"]])
        write_jsonl_atomic(test_mf, [r for r in ordered if r["test"]])
        write_jsonl_atomic(rej_path, [rejected[i] for i in sorted(rejected)])
        summary = {"train": _summary([r for r in ordered if not r["test"]]),
                   "test": _summary([r for r in ordered if r["test"]]),
                   "rejected": len(rejected),
                   "rejected_reasons": Counter(r["rejected"].split(" ")[0] for r in rejected.values()).most_common(),
                   "updated": time.strftime("%Y-%m-%d %H:%M:%S")}
        write_text_atomic(out / "synth_summary.json", json.dumps(summary, indent=1) + "\n")
        if on_flush:
            on_flush(summary)
        return summary

    if not 0 <= cfg.first_clip < len(prompts):
        raise ValueError(f"first_clip {cfg.first_clip} is outside the {len(prompts)} prompts")
    limit = len(prompts) if cfg.max_clips is None else min(cfg.first_clip + cfg.max_clips, len(prompts))

    def tasks() -> Iterator[tuple]:
        for i in range(cfg.first_clip, limit):
            if i in rows or i in rejected:
                continue
            voice = pick_voice(spec, random.Random(f"{cfg.seed}:{i}"))
            src, text = prompts[i]
            yield (i, src, text, voice, str(out))

    bar = tqdm(total=round(target / 3600, 2), initial=round(done / 3600, 3), unit="h", desc="synth",
               mininterval=5, bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} h [{elapsed}<{remaining}]")
    fresh = 0
    last_log = time.time()
    pool = ProcessPoolExecutor(cfg.jobs) if cfg.jobs > 1 else None
    results = pool.map(_clip_task, tasks(), chunksize=8) if pool else map(_clip_task, tasks())
    summary = None
    try:
        for res in results:
            if "rejected" in res:
                rejected[res["id"]] = res
            else:
                rows[res["id"]] = res
                done += res["duration"]
                bar.update(res["duration"] / 3600)
            fresh += 1
            if fresh % cfg.batch == 0:
                summary = flush()
            if time.time() - last_log > 60:
                log.info("synth: %d clips, %.3f h, %d rejected", len(rows), done / 3600, len(rejected))
                last_log = time.time()
            if done >= target:
                break
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        bar.close()
        summary = flush()
    log.info("synth done: train %.3f h (%d voices), test %.3f h (%d voices), %d rejected",
             summary["train"]["hours"], summary["train"]["voices"], summary["test"]["hours"],
             summary["test"]["voices"], summary["rejected"])
    return summary
