"""Debian asterisk-core-sounds-en(-wav): Allison Smith's English IVR prompts with their texts.

Audio: /usr/share/asterisk/sounds/en_US_f_Allison/**.wav (8 kHz mono, referenced in place, not copied).
Text: /usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz (`name: text` lines).
License: CC BY-SA 3.0, "Copyright 2003-2010 Allison Smith" (debian/copyright of the package).

Label checks, since the text file is a description rather than a verbatim transcript in places:
- non-verbal entries ([beep], <tones>, empty) are dropped;
- texts that a reader could say in more than one way are dropped: numbers of 100 or more
  ("1234" is read digit by digit or as a number), decimals, `*`/`#`, acronyms (IAX, PBX, 3D);
- letters per second must lie at most 1.5x this speaker's median sentence rate (and,
  for texts of 15+ letters, at least 0.6x) (a rough check that the
  file holds that text and nothing else).
"""
from __future__ import annotations

import gzip
import logging
import re
import statistics
from pathlib import Path

import soundfile as sf

from .normalize import get_normalizer, is_clean
from .util import apt_install, write_jsonl_atomic

__all__ = ["build_asterisk"]

log = logging.getLogger(__name__)
TEXT_FILE = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
SOUND_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
PACKAGES = ["asterisk-core-sounds-en", "asterisk-core-sounds-en-wav"]


def _ambiguous(text: str) -> str | None:
    if re.search(r"[\[\]<>{}*#()]", text):
        return "non-verbal or symbol"
    if re.search(r"\d[.,]\d|\d{3,}", text):
        return "long number or decimal"
    if re.search(r"\b(?!I\b)[A-Z]{2,}\b|\b\d+[A-Za-z]+\b", text):
        return "acronym"
    return None


def build_asterisk(out: Path, install: bool = True) -> dict:
    if install and not (TEXT_FILE.exists() and SOUND_DIR.exists()):
        apt_install(PACKAGES)
    if not TEXT_FILE.exists() or not SOUND_DIR.exists():
        raise FileNotFoundError(f"{TEXT_FILE} / {SOUND_DIR} missing: apt-get install {' '.join(PACKAGES)}")
    normalize = get_normalizer()
    entries = []
    dropped: dict[str, int] = {}

    def drop(reason: str) -> None:
        dropped[reason] = dropped.get(reason, 0) + 1

    for line in gzip.open(TEXT_FILE, "rt", encoding="utf-8", errors="replace"):
        line = line.strip()
        if not line or line.startswith(";") or ":" not in line:
            continue
        name, text = (s.strip() for s in line.split(":", 1))
        wav = SOUND_DIR / f"{name}.wav"
        if not wav.exists():
            drop("no audio file")
            continue
        why = _ambiguous(text)
        if why:
            drop(why)
            continue
        norm = normalize(text)
        if not norm or not is_clean(norm):
            drop("empty after normalising")
            continue
        info = sf.info(str(wav))
        entries.append({"audio": str(wav), "text": norm, "duration": round(info.frames / info.samplerate, 3),
                        "speaker": "asterisk_allison", "corpus": "asterisk", "sample_rate": info.samplerate})
    entries = [e for e in entries if e["duration"] > 0]
    rates = [sum(c.isalpha() for c in e["text"]) / e["duration"] for e in entries]
    # the speaker's rate, measured on sentences (short words carry fixed silence padding)
    med = statistics.median(r for e, r in zip(entries, rates) if sum(c.isalpha() for c in e["text"]) >= 15)
    rows = []
    for e, r in zip(entries, rates):
        letters = sum(c.isalpha() for c in e["text"])
        # one- or two-letter prompts (digits, letters) are padded with silence: only an upper bound on speed
        if r > 1.5 * med or (letters >= 15 and r < 0.6 * med):
            drop("letters per second out of range")
            log.info("asterisk: dropped %s (%.1f letters/s, median %.1f): %s", e["audio"], r, med, e["text"])
            continue
        rows.append(e)
    dst = out / "asterisk.jsonl"
    write_jsonl_atomic(dst, rows)
    hours = sum(r["duration"] for r in rows) / 3600
    stats = {"manifest": str(dst), "utterances": len(rows), "hours": round(hours, 3),
             "median_letters_per_second": round(med, 1), "dropped": dropped}
    log.info("asterisk: %s", stats)
    return stats
