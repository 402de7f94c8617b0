"""Flight of the Amazon Queen (Debian `flight-of-the-amazon-queen`, CD talkie version): multi-actor English speech.

The package holds one ScummVM resource file, queen.1c: a `QTBL` table of named entries, among them
the dialogue files (*.DOG: the text of every conversation) and the speech (*.SB: MP3, 11 kHz mono).
Each spoken line is split at `*XX` commands into segments, and segment k of dialogue entry `id`
with talk key `key` is played from `%2d%4x{J|P}%1x.SB` (spaces as zeros): J for Joe, P for the other
person of that dialogue file. This mirrors ScummVM's engines/queen/talk.cpp (Talk::load,
findDialogueString, speak, speakSegment), re-implemented here from that description.

Only the dialogue files are used (cutaway scenes and object descriptions are not mapped yet).
License: the game's own license (free redistribution, modification allowed; see
/usr/share/doc/flight-of-the-amazon-queen/copyright), "Copyright 1995 John Passfield and Steven Stamatiadis".

Checks: the text must normalise to a-z/'/space words, and the duration must fit the letters
(0.8 + letters/3 >= seconds >= letters/25). `verify_fotaq` then decodes a sample of clips (or all) with
PocketSphinx constrained by a trigram LM over the game's own lines (`speechdata.verify`): a decoded clip
must fit its own line better than chance, and a dialogue file whose decoded clips do not is dropped whole.
"""
from __future__ import annotations

import io
import logging
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly
from tqdm import tqdm

from .normalize import get_normalizer, is_clean
from .util import read_jsonl, write_jsonl_atomic
from .verify import LabelChecker, group_rule

__all__ = ["build_fotaq", "verify_fotaq", "QueenResources", "dialogue_segments"]

log = logging.getLogger(__name__)
PACKAGE = "flight-of-the-amazon-queen"
RESOURCE = "usr/share/scummvm/flight-of-the-amazon-queen/queen.1c"
DOG_HEADER = 20


class QueenResources:
    """Read-only access to the entries of a rebuilt (`QTBL`) queen.1c file."""

    def __init__(self, path: Path):
        self.path = path
        self.f = open(path, "rb")
        if self.f.read(4) != b"QTBL":
            raise ValueError(f"{path} is not a rebuilt FOTAQ resource file (no QTBL header)")
        self.version = self.f.read(6).split(b"\0")[0].decode()
        self.f.read(2)
        self.compression = self.f.read(1)[0]   # 1 = MP3 speech
        n = struct.unpack(">H", self.f.read(2))[0]
        self.entries: dict[str, tuple[int, int, int]] = {}
        for _ in range(n):
            name = self.f.read(12).split(b"\0")[0].decode("latin-1")
            bundle = self.f.read(1)[0]
            offset, size = struct.unpack(">II", self.f.read(8))
            self.entries[name] = (bundle, offset, size)

    def read(self, name: str, skip: int = 0) -> bytes:
        _, offset, size = self.entries[name]
        self.f.seek(offset + skip)
        return self.f.read(size - skip)


def _i16(b: bytes, o: int) -> int:
    return struct.unpack(">h", b[o:o + 2])[0]


def _u16(b: bytes, o: int) -> int:
    return struct.unpack(">H", b[o:o + 2])[0]


def _string(b: bytes, o: int, align: int = 2) -> tuple[str, int]:
    n = b[o]
    o += 1
    s = b[o:o + n].decode("latin-1") if n else ""
    if n:
        o = (o + n + align - 1) & ~(align - 1)
    return s, o


def _segments(sentence: str) -> list[tuple[int, str]]:
    """(segment index, text) as Talk::speak splits a line at '*' + two-character commands."""
    out, i, start, idx = [], 0, 0, 0
    while i < len(sentence):
        if sentence[i] == "*":
            seg = sentence[start:i]
            cmd = sentence[i + 1:i + 3]
            i += 3 + (11 if cmd == "XY" else 0)
            if cmd not in ("GD", "GM"):          # grab commands play nothing
                out.append((idx, seg))
            idx += 1
            start = i
        else:
            i += 1
    if start != i:
        out.append((idx, sentence[start:i]))
    return out


def _voice_name(key: int, ident: str, who: str, idx: int) -> str:
    return (f"{key:2d}{ident}{who}").replace(" ", "0").upper() + f"{idx + 1:1x}".upper()


def dialogue_segments(res: QueenResources) -> list[dict]:
    """Every dialogue segment of every .DOG file that has a speech file: name, text, speaker."""
    items = []
    for dog in sorted(n for n in res.entries if n.endswith(".DOG")):
        b = res.read(dog, DOG_HEADER)
        levels, key, jmax, pmax = abs(_i16(b, 0)), _i16(b, 4), _i16(b, 6), _i16(b, 8)
        p1, p2 = _u16(b, 22), _u16(b, 26)
        joe = 32 + levels * 96
        person = "fotaq_" + re.sub(r"\d+$", "", dog[:-4]).lower()
        lines = []
        for who, off, count in (("J", joe, jmax), ("P", p1, pmax)):
            for _ in range(count):
                off += 2
                ident = _i16(b, off)
                off += 2
                text, off = _string(b, off, 4)
                lines.append((f"{ident:4x}", who, text))
        if not _u16(b, joe + 2):                 # Joe's opening line
            lines.append(("SSSS", "J", _string(b, joe + 4)[0]))
        s1, o = _string(b, p2)
        s2, _ = _string(b, o)
        lines += [("XXXX", "P", s1), ("XXXX", "J", s2)]
        for ident, who, text in lines:
            for idx, seg in _segments(text):
                name = _voice_name(key, ident, who, idx)
                if seg.strip() and name + ".SB" in res.entries:
                    items.append({"name": name, "text": seg, "dog": dog,
                                  "speaker": "fotaq_joe" if who == "J" else person})
    uniq = {}
    for it in items:
        uniq.setdefault(it["name"], it)           # a file reached twice carries the same line
    return list(uniq.values())


def fetch_package(downloads: Path) -> Path:
    """apt-get download + dpkg -x the game package (no install, no scummvm needed); returns queen.1c."""
    root = downloads / PACKAGE
    res = root / RESOURCE
    if res.exists():
        return res
    downloads.mkdir(parents=True, exist_ok=True)
    debs = sorted(downloads.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        log.info("apt-get download %s", PACKAGE)
        subprocess.run(["apt-get", "download", PACKAGE], cwd=downloads, check=True)
        debs = sorted(downloads.glob(f"{PACKAGE}_*.deb"))
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(root)], check=True)
    return res


@dataclass
class _Clip:
    ok: bool
    reason: str


def _check(text: str, dur: float) -> _Clip:
    letters = sum(c.isalpha() for c in text)
    if not letters:
        return _Clip(False, "no letters")
    if dur > 0.8 + letters / 3.0:
        return _Clip(False, "too long for its text")
    if dur < letters / 25.0:
        return _Clip(False, "too short for its text")
    return _Clip(True, "ok")


def build_fotaq(out: Path, downloads: Path) -> dict:
    """Decode the dialogue speech to 16 kHz FLAC under out/fotaq/ and write out/fotaq_unverified.jsonl."""
    normalize = get_normalizer()
    res = QueenResources(fetch_package(downloads))
    items = dialogue_segments(res)
    rows, dropped = [], {}
    for it in tqdm(items, desc="fotaq", mininterval=5):
        text = normalize(it["text"])
        path = out / "fotaq" / it["speaker"] / f"{it['name']}.flac"
        if not text or not is_clean(text):
            dropped["text"] = dropped.get("text", 0) + 1
            continue
        if not path.exists():
            x, sr = sf.read(io.BytesIO(res.read(it["name"] + ".SB")), dtype="float32", always_2d=True)
            x = x.mean(axis=1)
            y = resample_poly(x, 640, 441).astype(np.float32) if sr == 11025 else x
            if sr not in (11025, 16000):
                raise ValueError(f"unexpected sample rate {sr} in {it['name']}.SB")
            peak = float(np.max(np.abs(y))) if len(y) else 0.0
            if peak > 0.999:
                y = y * (0.999 / peak)
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path.with_suffix(".tmp.flac"), y, 16000, subtype="PCM_16", format="FLAC")
            path.with_suffix(".tmp.flac").replace(path)
        dur = sf.info(str(path)).duration
        chk = _check(text, dur)
        if not chk.ok:
            dropped[chk.reason] = dropped.get(chk.reason, 0) + 1
            continue
        rows.append({"audio": str(path.resolve()), "text": text, "duration": round(dur, 3),
                     "speaker": it["speaker"], "corpus": "fotaq", "source_file": it["name"] + ".SB",
                     "source_text": it["text"], "dog": it["dog"]})
    dst = out / "fotaq_unverified.jsonl"
    write_jsonl_atomic(dst, rows)
    stats = {"manifest": str(dst), "segments": len(items), "utterances": len(rows),
             "hours": round(sum(r["duration"] for r in rows) / 3600, 3),
             "speakers": len({r["speaker"] for r in rows}), "dropped": dropped}
    log.info("fotaq: %s", stats)
    return stats


def _decide(rows: list[dict], decisions: list[dict]) -> tuple[list[dict], dict]:
    """Clip rule: the decode fits its own line better than random lines of the same length.
    File rule (`verify.group_rule`): a dialogue file whose decoded clips fit no better than chance is dropped."""
    bad_dogs = group_rule(decisions, {r["audio"]: r["dog"] for r in rows})
    failed = {d["audio"] for d in decisions if not d["ok"]}
    kept = [r for r in rows if r["audio"] not in failed and r["dog"] not in bad_dogs]
    return kept, {"dropped_dialogue_files": sorted(bad_dogs), "failed_clips": len(failed)}


def verify_fotaq(out: Path, tools: Path, sample: int | None = 400, seed: int = 0) -> dict:
    """Check the text-to-speech-file mapping with PocketSphinx and write out/fotaq.jsonl.

    PocketSphinx (US English model, trigram LM built from this source's own lines) is weak on this
    11 kHz MP3 acted speech (median WER about 0.8 against the right line), so it cannot prove each
    word; it can show whether a clip fits its own line better than chance. Chance is the mean WER of
    the same decode against random other lines of the game of about the same length (median about 1.1).
    A decoded clip is kept when its own line fits better than chance; a dialogue file whose decoded
    clips fit no better than chance on average, or pass less than half the time, is dropped whole;
    undecoded clips of the other files are kept. `sample` clips are decoded (None: all, resumable,
    about 1-3 s per clip); decisions go to out/fotaq_verify.jsonl and out/fotaq.jsonl is rewritten
    every 100 clips.
    """
    import random

    rows = read_jsonl(out / "fotaq_unverified.jsonl")
    by_audio = {r["audio"]: r for r in rows}
    done = {r["audio"]: r for r in read_jsonl(out / "fotaq_verify.jsonl") if r["audio"] in by_audio}
    checker = LabelChecker((r["text"] for r in rows), tools, out / "fotaq_lm.arpa")

    def finish(d: dict) -> dict:
        res = checker.check(d["audio"], by_audio[d["audio"]]["text"], hyp=d["hyp"])
        return {**res, "dog": d["dog"]}

    decisions = [finish(d) for d in done.values()]

    def flush() -> tuple[list[dict], dict]:
        write_jsonl_atomic(out / "fotaq_verify.jsonl", decisions)
        kept, info = _decide(rows, decisions)
        write_jsonl_atomic(out / "fotaq.jsonl", kept)
        return kept, info

    todo = [r for r in rows if r["audio"] not in done]
    if sample is not None:
        todo = random.Random(seed).sample(todo, min(max(0, sample - len(done)), len(todo)))
    for n, r in enumerate(tqdm(todo, desc="fotaq verify", mininterval=10)):
        decisions.append({**checker.check(r["audio"], r["text"]), "dog": r["dog"]})
        if (n + 1) % 100 == 0:
            flush()
    kept, info = flush()
    rate = sum(d["ok"] for d in decisions) / max(1, len(decisions))
    stats = {"manifest": str(out / "fotaq.jsonl"), "decoded": len(decisions), "pass_rate": round(rate, 3),
             **info, "kept": len(kept), "hours": round(sum(r["duration"] for r in kept) / 3600, 3),
             "speakers": len({r["speaker"] for r in kept})}
    log.info("fotaq verify: %s", stats)
    return stats
