"""Drascula: The Vampire Strikes Back (Debian `drascula`, English talkie): multi-actor English speech.

Data (usr/share/scummvm/drascula/en/ in the .deb, unpacked with `dpkg -x`, nothing installed):
- `*.ALS`: one spoken line each, raw unsigned 8-bit mono PCM at 11025 Hz; the first and last 32 bytes
  are not played. 3.ALS (145166 bytes) holds long silence: only bytes 73959..117158 are played.
  S*.ALS are sound effects, F*.ALS are not speech lines either (both skipped).
- `drascula.dat` (ScummVM's engine data file, version 6): "DRASCULA", a version byte, the engine's
  static tables (each a big-endian uint16 count and fixed-size records), the number of languages,
  then 15 text arrays (_text, _textd, _textb, _textbj, _texte, _texti, _textl, _textp, _textt,
  _textvb, _textsys, _texthis, _textverbs, _textmisc, _textd1). Each array: a uint16 entry count, then
  per language a uint16 block length and a block of 2 padding bytes followed by entries
  [uint16 entry size incl. itself][NUL-terminated text][padding]. Language 0 is English.

Mapping (ScummVM engines/drascula/talk.cpp, re-implemented here from that description): a line is
played from `<prefix><index>.als` and shown from the array of that prefix at the same index:
'' -> _text (John Hacker), D -> _textd (Count Drascula; D56-D67 are Hacker and D68-D78 the blind man
in the blind man scene, D82 the bartender), B -> _textb (the drunk), BJ -> _textbj (B.J.),
E -> _texte (talk_mus), I -> _texti (Igor), L -> _textl (the werewolf), P -> _textp (the pianist),
T -> _textt (the bartender), VB -> _textvb (Von Braun). The one exception, D83.ALS (the talking
trunk, played with the empty _text[83] while _textd[83] is "BLA, BLA, BLA."), is dropped.
Files whose entry is empty (23 of them) have no text and are skipped.

License: Drascula-License (usr/share/doc/drascula/copyright): free redistribution, modification
allowed (modified versions marked as such), no fee for the game itself; "All game content is
Copyright (C) Alcachofa Soft S.L." Debian ships it in main as DFSG-free (same terms as BASS/FOTAQ).

Checks: texts with digits, elongated words (OOOOKAY, SHHHH), laughter or babble (ha, bla, hmm) are
dropped as ambiguous; the text must normalise to a-z/'/space words, and the duration must fit the
letters (0.8 + letters/3 >= seconds >= letters/25). Then every clip is decoded with PocketSphinx under
a trigram LM of the game's own lines (`speechdata.verify`): a clip is kept when its own line fits
the decode better than chance, and a character whose clips fit no better than chance on average (or
pass less than half the time) is dropped whole (`group_rule`).
"""
from __future__ import annotations

import logging
import re
import struct
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from .normalize import duration_problem, get_normalizer, text_problem
from .util import fetch_deb, write_flac_16k, write_jsonl_atomic
from .verify import CheckLog, LabelChecker, group_rule

__all__ = ["build_drascula", "read_drascula_dat", "speech_items", "decode_als"]

log = logging.getLogger(__name__)
PACKAGE = "drascula"
DATA_DIR = "usr/share/scummvm/drascula/en"
SAMPLE_RATE = 11025
# record sizes of the static tables before the texts (after the charmap of 4-byte records):
# item locations, x/y_pol, verbBarX, x1d/y1d_menu, frameX, candleX/Y, pianistX, drunkX,
# room pre-updates, room updates (10 int16 each), room actions (5), talk sequences (4)
_TABLE_RECORDS = (4, 4, 2, 4, 2, 4, 2, 2, 20, 20, 10, 8)
TEXT_ARRAYS = ("text", "textd", "textb", "textbj", "texte", "texti", "textl", "textp", "textt",
               "textvb", "textsys", "texthis", "textverbs", "textmisc", "textd1")
PREFIX_ARRAY = {"": "text", "D": "textd", "B": "textb", "BJ": "textbj", "E": "texte", "I": "texti",
                "L": "textl", "P": "textp", "T": "textt", "VB": "textvb"}
PREFIX_SPEAKER = {"": "hacker", "D": "drascula", "B": "drunk", "BJ": "bj", "E": "mus", "I": "igor",
                  "L": "werewolf", "P": "pianist", "T": "bartender", "VB": "vonbraun"}
SKIP_FILES = {"D83"}                       # talking trunk: file and text arrays disagree
BABBLE = {"bla", "ha", "hah", "hu", "hmm", "hm", "mmm", "um", "umm", "uh", "ugh", "grr", "argh", "shh", "psst"}


def _speaker(prefix: str, index: int) -> str:
    if prefix == "D":
        if 56 <= index <= 67:
            return "drascula_hacker"       # talk_hacker in the blind man scene
        if 68 <= index <= 78:
            return "drascula_blind"        # talk_blind: _textd from TEXTD_START (68)
        if index == 82:
            return "drascula_bartender"
    return "drascula_" + PREFIX_SPEAKER[prefix]


def read_drascula_dat(path: Path, lang: int = 0) -> dict[str, list[str]]:
    """The text arrays of one language of drascula.dat (index i = the game's text number i)."""
    b = Path(path).read_bytes()
    if b[:8] != b"DRASCULA":
        raise ValueError(f"{path} is not a drascula.dat file")
    if b[8] != 6:
        raise ValueError(f"{path}: drascula.dat version {b[8]}, this reader knows version 6")
    pos = 9

    def u16() -> int:
        nonlocal pos
        v = struct.unpack_from(">H", b, pos)[0]
        pos += 2
        return v

    n = u16()
    pos += 4 * n                            # charmap: byte, int16, byte
    for size in _TABLE_RECORDS:
        n = u16()                           # (u16 moves pos: read it before adding)
        pos += size * n
    n_langs = u16()
    if not 0 <= lang < n_langs:
        raise ValueError(f"{path} holds {n_langs} languages, asked for {lang}")
    out: dict[str, list[str]] = {}
    for name in TEXT_ARRAYS:
        count = u16()
        for k in range(n_langs):
            size = u16()
            block = b[pos:pos + size]
            pos += size
            if k != lang:
                continue
            texts, p = [], 2                # two padding bytes, then self-sized entries
            while p + 2 <= len(block) and len(texts) < count:
                n = struct.unpack_from(">H", block, p)[0]
                if n < 3:
                    raise ValueError(f"{path}: bad entry size {n} in {name}")
                texts.append(block[p + 2:p + n].split(b"\0", 1)[0].decode("latin-1"))
                p += n
            if len(texts) != count:
                raise ValueError(f"{path}: {name} has {len(texts)} entries, header says {count}")
            out[name] = texts
    if pos != len(b):
        raise ValueError(f"{path}: {len(b) - pos} bytes left after the text arrays")
    return out


def speech_items(data_dir: Path, texts: dict[str, list[str]]) -> tuple[list[dict], dict]:
    """Every speech file of data_dir with its text and speaker; also counts of files skipped and why."""
    items, skipped = [], {}
    for f in sorted(Path(data_dir).iterdir()):
        m = re.fullmatch(r"([A-Z]*)(\d+)\.ALS", f.name, flags=re.IGNORECASE)
        if not m:
            continue
        prefix, index = m.group(1).upper(), int(m.group(2))
        if prefix not in PREFIX_ARRAY:
            skipped["not speech (S/F files)"] = skipped.get("not speech (S/F files)", 0) + 1
            continue
        if f"{prefix}{index}" in SKIP_FILES:
            skipped["ambiguous mapping (D83)"] = skipped.get("ambiguous mapping (D83)", 0) + 1
            continue
        arr = texts[PREFIX_ARRAY[prefix]]
        text = arr[index] if index < len(arr) else ""
        if not text.strip():
            skipped["no text entry"] = skipped.get("no text entry", 0) + 1
            continue
        items.append({"name": f"{prefix}{index}", "file": f, "text": text, "array": PREFIX_ARRAY[prefix],
                      "index": index, "speaker": _speaker(prefix, index)})
    return items, skipped


def decode_als(data: bytes, name: str = "") -> np.ndarray:
    """The played part of an .ALS file as float32 in [-1, 1) at 11025 Hz."""
    if name.upper() == "3" and len(data) == 145166:
        pcm = data[73959:117158]            # the English 3.ALS: long silence around the line
    else:
        pcm = data[32:len(data) - 32]
    return (np.frombuffer(pcm, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0


def fetch_package(downloads: Path) -> Path:
    """The game package unpacked (no install, no scummvm needed); returns the en/ folder."""
    return fetch_deb(PACKAGE, downloads, marker=f"{DATA_DIR}/drascula.dat") / DATA_DIR


def _text_problem(raw: str, norm: str) -> str | None:
    return text_problem(raw, norm, BABBLE)


def _extract(out: Path, data_dir: Path) -> tuple[list[dict], dict]:
    normalize = get_normalizer()
    texts = read_drascula_dat(data_dir / "drascula.dat")
    items, dropped = speech_items(data_dir, texts)
    n_files = len(items) + sum(dropped.values())
    rows = []
    for it in tqdm(items, desc="drascula", mininterval=5):
        norm = normalize(it["text"])
        why = _text_problem(it["text"], norm)
        if why:
            dropped[why] = dropped.get(why, 0) + 1
            continue
        path = out / "drascula" / it["speaker"] / f"{it['name']}.flac"
        if not path.exists():
            write_flac_16k(path, decode_als(it["file"].read_bytes(), it["name"]), SAMPLE_RATE)
        dur = sf.info(str(path)).duration
        why = duration_problem(norm, dur)
        if why:
            dropped[why] = dropped.get(why, 0) + 1
            continue
        rows.append({"audio": str(path.resolve()), "text": norm, "duration": round(dur, 3),
                     "speaker": it["speaker"], "corpus": "drascula", "source_file": it["file"].name,
                     "source_text": it["text"], "text_array": it["array"], "text_index": it["index"]})
    return rows, {"als_files": n_files, "mapped": len(items), "dropped": dropped}


def _verify(out: Path, rows: list[dict], tools: Path) -> dict:
    """Decode every clip (resumable via out/drascula_verify.jsonl) and write out/drascula.jsonl."""
    checker = LabelChecker((r["text"] for r in rows), tools, out / "drascula_lm.arpa")
    checks = CheckLog(checker, rows, out / "drascula_verify.jsonl", tag=lambda d, r: {**d, "speaker": r["speaker"]})
    decisions = checks.decisions
    group_of = {r["audio"]: r["speaker"] for r in rows}

    def flush() -> tuple[list[dict], set[str]]:
        checks.save()
        bad = group_rule(decisions, group_of)
        passed = {d["audio"] for d in decisions if d["ok"]}
        kept = [r for r in rows if r["audio"] in passed and r["speaker"] not in bad]
        write_jsonl_atomic(out / "drascula.jsonl", kept)
        return kept, bad

    kept, bad = checks.decode([r for r in rows if r["audio"] not in checks.done], flush, "drascula verify")
    per_speaker = {}
    for d in decisions:
        s = per_speaker.setdefault(d["speaker"], [0, 0])
        s[0] += 1
        s[1] += d["ok"]
    return {"decoded": len(decisions), "passed": sum(d["ok"] for d in decisions),
            "pass_rate": round(sum(d["ok"] for d in decisions) / max(1, len(decisions)), 3),
            "pass_rate_by_speaker": {k: f"{v[1]}/{v[0]}" for k, v in sorted(per_speaker.items())},
            "dropped_speakers": sorted(bad), "kept": len(kept),
            "hours": round(sum(r["duration"] for r in kept) / 3600, 3),
            "speakers": len({r["speaker"] for r in kept})}


def build_drascula(out: Path, downloads: Path, tools: Path) -> dict:
    """Extract the English speech to out/drascula/<speaker>/<file>.flac, write out/drascula_unverified.jsonl,
    check every clip with PocketSphinx and write out/drascula_verify.jsonl and out/drascula.jsonl."""
    out = Path(out)
    rows, info = _extract(out, fetch_package(Path(downloads)))
    write_jsonl_atomic(out / "drascula_unverified.jsonl", rows)
    info.update({"unverified": len(rows), "unverified_hours": round(sum(r["duration"] for r in rows) / 3600, 3)})
    log.info("drascula: %s", info)
    stats = {"manifest": str(out / "drascula.jsonl"), **info, **_verify(out, rows, Path(tools))}
    log.info("drascula verify: %s", stats)
    return stats
