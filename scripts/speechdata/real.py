"""Real speech: rewrite the shared manifests with absolute audio paths and normalised lowercase text."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from .normalize import get_normalizer, is_clean
from .util import write_jsonl_atomic

__all__ = ["convert_real", "SPLITS"]

log = logging.getLogger(__name__)
SPLITS = ("train", "dev", "test")


def convert_real(shared: Path, out: Path, check_audio: bool = True) -> dict[str, dict]:
    """shared/{train,dev,test}.jsonl -> out/real_{split}.jsonl. Returns per-split counts and hours.

    Audio is referenced, not copied. Lines whose audio is missing or whose text normalises to
    nothing (or to characters outside a-z ' space) are dropped and counted.
    """
    normalize = get_normalizer()
    stats: dict[str, dict] = {}
    for split in SPLITS:
        src = shared / f"{split}.jsonl"
        if not src.exists():
            raise FileNotFoundError(f"{src} not found: --shared must be the folder holding train/dev/test.jsonl")
        rows, dropped = [], 0
        for line in src.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            audio = Path(item["audio"])
            if not audio.is_absolute():
                audio = (src.parent / audio).resolve()
            text = normalize(item["text"])
            if (check_audio and not audio.exists()) or not text or not is_clean(text):
                dropped += 1
                log.warning("dropped %s (%r): %s", audio, item["text"],
                            "missing audio" if not audio.exists() else "text not clean after normalising")
                continue
            row = {"audio": str(audio), "text": text, "duration": round(float(item["duration"]), 3),
                   "speaker": item.get("speaker", "unknown"), "corpus": item.get("corpus", "shared")}
            rows.append(row)
        dst = out / f"real_{split}.jsonl"
        write_jsonl_atomic(dst, rows)
        hours = sum(r["duration"] for r in rows) / 3600
        stats[split] = {"manifest": str(dst.resolve()), "utterances": len(rows), "hours": round(hours, 3),
                        "dropped": dropped, "speakers": len({r["speaker"] for r in rows})}
        log.info("real %s: %d utterances, %.3f h, %d dropped -> %s", split, len(rows), hours, dropped, dst)
    return stats
