"""Debian contrib/non-free TTS engines for the synthetic build: RHVoice, SVOX Pico and MBROLA.

These packages live in Debian's non-free (rhvoice-english, libttspico*, mbrola-*) and contrib (mbrola)
components, which a stock bookworm machine does not enable. `ensure_installed(engines)` (run as root)
writes /etc/apt/sources.list.d/speechdata-contrib-non-free.sources adding `contrib non-free` to every
Debian source that lacks them (idempotent; logged as a WARNING; delete the file to undo), runs
apt-get update and installs the packages. Without root it stops with the commands to run by hand.
Voices are used only where their license lets anyone use a model trained on their output, commercially
too (licenses as stated in each package's /usr/share/doc/<pkg>/copyright, bookworm versions):

rhvoice  RHVoice 1.8.0 (packages rhvoice + rhvoice-english 1.8.0+dfsg-3, non-free: "trained networks"
         without the training scripts), driven by `RHVoice-test -p VOICE -r RATE% -t PITCH%`, 24 kHz.
         USED: alan (Scottish male), bdl (US male), clb (US female), slt (US female): copyright
         `Files: data/*` LGPL-2.1+ (Olga Yakovleva); upstream trained them on the CMU ARCTIC recordings
         (BSD-style license, any use). Per clip: rate 75-140 %, pitch 85-120 %.
         EXCLUDED: evgeniy-eng and lyubov: CC-BY-NC-ND-4.0 (non-commercial).
         slt is HELD OUT (synthetic test only): the SLT speaker is held out in every engine.
pico     SVOX Pico (libttspico-utils / libttspico0 / libttspico-data 1.0+git20130326-13, non-free),
         `pico2wave -l en-US|en-GB`, 16 kHz, one female voice per language. License: Apache-2.0; the
         language files (pico/lang/*) are "License: other — claims to be Apache-2.0 but the source code is
         not included. At least, it is redistributable". Per clip: <speed level> 75-135, <pitch level> 85-120.
mbrola   MBROLA 3.3 (package mbrola, contrib, AGPL-3+) through espeak-ng's mb-* voices, 16 kHz.
         USED: en1 (`espeak-ng -v mb-en1`, British male "Roger" diphones, mbrola-en1 19980910+repack2-5):
         the Roger database's University of Edinburgh terms "Permission to use, copy, modify, distribute this
         database for any purpose is hereby granted without fee" (keep the notice; no endorsement), use
         only through the Mbrola program, whose terms are now AGPL-3+. No commercial restriction.
         EXCLUDED (not even installed): us1, us2 (diphones owned by BaBel Technology) and us3 (Oregon
         Graduate Institute): "this database may not be sold or incorporated into any product which is
         sold without prior permission from the Diphone Database Owner" - a commercial restriction.
         Per clip: espeak-ng speed 130-200 wpm, pitch 30-70, word gap 0-4; amplitude 70 (100 clips).
"""
from __future__ import annotations

import logging
import os
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .tts import Voice

__all__ = ["DEBIAN_EXTRA_ENGINES", "ensure_installed", "available_voices", "pick_voice", "is_held_out",
           "synthesize", "enable_contrib_non_free", "VOICE_LICENSES", "HELD_OUT_DESC"]

log = logging.getLogger(__name__)

DEBIAN_EXTRA_ENGINES = ("rhvoice", "pico", "mbrola")
PACKAGES = {"rhvoice": ["rhvoice", "rhvoice-english"], "pico": ["libttspico-utils"],
            "mbrola": ["mbrola", "mbrola-en1", "espeak-ng"]}
RHVOICE_DIR = Path("/usr/share/RHVoice/voices")
MBROLA_DIR = Path("/usr/share/mbrola")
# every voice the packages ship, with its license and whether we use it
VOICE_LICENSES = {
    "rhvoice/alan": ("LGPL-2.1+ (RHVoice data/*; CMU ARCTIC based)", True),
    "rhvoice/bdl": ("LGPL-2.1+ (RHVoice data/*; CMU ARCTIC bdl)", True),
    "rhvoice/clb": ("LGPL-2.1+ (RHVoice data/*; CMU ARCTIC clb)", True),
    "rhvoice/slt": ("LGPL-2.1+ (RHVoice data/*; CMU ARCTIC slt) - held out", True),
    "rhvoice/evgeniy-eng": ("CC-BY-NC-ND-4.0 (non-commercial)", False),
    "rhvoice/lyubov": ("CC-BY-NC-ND-4.0 (non-commercial)", False),
    "pico/en-US": ("Apache-2.0 (lang files: 'claims Apache-2.0', no source; redistributable)", True),
    "pico/en-GB": ("Apache-2.0 (lang files: 'claims Apache-2.0', no source; redistributable)", True),
    "mbrola/en1": ("Univ. of Edinburgh Roger terms: any purpose; only with Mbrola (AGPL-3+)", True),
    "mbrola/us1": ("BaBel Technology: no sale / sold products without permission", False),
    "mbrola/us2": ("BaBel Technology: no sale / sold products without permission", False),
    "mbrola/us3": ("OGI: no sale / sold products without permission", False),
}
RHVOICE_VOICES = [k.split("/")[1] for k, (_, ok) in VOICE_LICENSES.items() if k.startswith("rhvoice/") and ok]
PICO_VOICES = [k.split("/")[1] for k, (_, ok) in VOICE_LICENSES.items() if k.startswith("pico/") and ok]
MBROLA_VOICES = [k.split("/")[1] for k, (_, ok) in VOICE_LICENSES.items() if k.startswith("mbrola/") and ok]
HELD_OUT_DESC = ["rhvoice/slt"]

SOURCES_DIR = Path("/etc/apt/sources.list.d")
OUR_SOURCES = SOURCES_DIR / "speechdata-contrib-non-free.sources"
WANT_COMPONENTS = ("contrib", "non-free")


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas, cur = [], {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                stanzas.append(cur)
            cur = {}
            continue
        if line.startswith("#") or line[0].isspace() or ":" not in line:
            continue
        k, v = line.split(":", 1)
        cur[k.strip().lower()] = v.strip()
    if cur:
        stanzas.append(cur)
    return stanzas


def _debian_sources() -> list[dict]:
    """(uri, suite, components, signed-by) of every enabled Debian `deb` source on this machine."""
    out = []
    for f in sorted(SOURCES_DIR.glob("*.sources")):
        for s in _deb822_stanzas(f.read_text(errors="replace")):
            if "deb" not in s.get("types", "").split() or s.get("enabled", "yes").lower() == "no":
                continue
            for uri in s.get("uris", "").split():
                for suite in s.get("suites", "").split():
                    out.append({"uri": uri, "suite": suite, "components": set(s.get("components", "").split()),
                                "signed_by": s.get("signed-by", ""), "file": f})
    lists = [Path("/etc/apt/sources.list")] + sorted(SOURCES_DIR.glob("*.list"))
    for f in lists:
        if not f.exists():
            continue
        for line in f.read_text(errors="replace").splitlines():
            m = re.match(r"\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)", line)
            if m:
                opts = m.group(1) or ""
                sb = re.search(r"signed-by=(\S+?)\]?(\s|$)", opts)
                out.append({"uri": m.group(2), "suite": m.group(3), "components": set(m.group(4).split()),
                            "signed_by": sb.group(1) if sb else "", "file": f})
    # only Debian's own servers (a third-party repo with /debian in its path has no contrib/non-free)
    return [s for s in out if re.match(r"[a-z+]+://([^/]*\.)?debian\.org/", s["uri"])]


def enable_contrib_non_free() -> bool:
    """Add contrib and non-free to every Debian source that lacks them, in OUR_SOURCES. Idempotent.

    Returns True when the apt configuration changed (the caller must run apt-get update). Needs root.
    """
    sources = [s for s in _debian_sources() if s["file"] != OUR_SOURCES]   # our file is regenerated whole
    if not sources:
        raise RuntimeError("no Debian apt source found in /etc/apt/sources.list(.d); cannot enable contrib/non-free")
    missing: dict[tuple[str, str], dict] = {}
    have: dict[tuple[str, str], set] = {}
    for s in sources:
        have.setdefault((s["uri"], s["suite"]), set()).update(s["components"])
    for s in sources:
        key = (s["uri"], s["suite"])
        if not set(WANT_COMPONENTS) <= have[key]:
            missing.setdefault(key, s)
    if not missing:
        log.info("apt: contrib and non-free already enabled for every Debian source")
        return False
    # one stanza per (uri, signed-by) with all its suites
    groups: dict[tuple[str, str], list[str]] = {}
    for (uri, suite), s in missing.items():
        groups.setdefault((uri, s["signed_by"]), []).append(suite)
    body = ["# Written by scripts/speechdata/tts_debian_extra.py (speech data build): Debian contrib + non-free",
            "# for the RHVoice, SVOX Pico and MBROLA TTS engines. Delete this file to undo.", ""]
    for (uri, signed), suites in sorted(groups.items()):
        body += ["Types: deb", f"URIs: {uri}", f"Suites: {' '.join(suites)}",
                 f"Components: {' '.join(WANT_COMPONENTS)}"]
        if signed:
            body.append(f"Signed-By: {signed}")
        body.append("")
    text = "\n".join(body)
    if OUR_SOURCES.exists() and OUR_SOURCES.read_text() == text:
        log.info("apt: contrib and non-free enabled by %s (already there)", OUR_SOURCES)
        return False
    if os.geteuid() != 0:
        lines = ", ".join(f"{u} {s}" for u, s in missing)
        raise RuntimeError(
            f"the rhvoice/pico/mbrola engines need Debian's contrib and non-free components, which are not "
            f"enabled for: {lines}. Run this script as root, or add 'contrib non-free' to the Components: line "
            f"of /etc/apt/sources.list.d/debian.sources (or to each deb line of /etc/apt/sources.list), then "
            f"`sudo apt-get update && sudo apt-get install --no-install-recommends rhvoice rhvoice-english "
            f"libttspico-utils mbrola mbrola-en1`")
    OUR_SOURCES.write_text(text)
    log.warning("APT CONFIGURATION CHANGED: wrote %s enabling Debian 'contrib non-free' for %s "
                "(delete the file to undo)", OUR_SOURCES, ", ".join(f"{u} {s}" for u, s in sorted(missing)))
    return True


def apt_update() -> None:
    log.warning("running apt-get update (new apt components)")
    subprocess.run(["apt-get", "update"], check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def _missing(engine: str) -> bool:
    if engine == "rhvoice":
        return not (shutil.which("RHVoice-test") and any((RHVOICE_DIR / v).is_dir() for v in RHVOICE_VOICES))
    if engine == "pico":
        return shutil.which("pico2wave") is None
    if engine == "mbrola":
        return not (shutil.which("mbrola") and shutil.which("espeak-ng")
                    and all((MBROLA_DIR / v / v).exists() for v in MBROLA_VOICES))
    raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(DEBIAN_EXTRA_ENGINES)}")


def _apt_candidate(pkg: str) -> bool:
    out = subprocess.run(["apt-cache", "policy", pkg], capture_output=True, text=True).stdout
    m = re.search(r"Candidate:\s*(\S+)", out)
    return bool(m) and m.group(1) != "(none)"


def ensure_installed(engines, install: bool = True) -> None:
    """Install the Debian packages of the requested engines that are missing (root: enables contrib/non-free)."""
    need = sorted({p for e in engines if e in DEBIAN_EXTRA_ENGINES and _missing(e) for p in PACKAGES[e]})
    if not need:
        return
    cmd = f"apt-get install --no-install-recommends {' '.join(need)}"
    if not install:
        raise RuntimeError(f"TTS packages missing and installs are off (--no-install): run `{cmd}` as root "
                           f"(with Debian's contrib and non-free components enabled)")
    if os.geteuid() != 0:
        enable_contrib_non_free()              # raises the how-to message when the components are missing
        raise RuntimeError(f"TTS packages missing and this is not root: run `sudo {cmd}` and rerun")
    changed = enable_contrib_non_free()
    if changed or not all(_apt_candidate(p) for p in need):
        apt_update()
    log.warning("installing Debian packages (contrib/non-free TTS): %s", " ".join(need))
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *need], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def available_voices(engines) -> dict[str, list[str]]:
    """engine -> installed voices that we may use (license-excluded voices are never listed)."""
    out: dict[str, list[str]] = {}
    if "rhvoice" in engines and shutil.which("RHVoice-test"):
        have = {p.name for p in RHVOICE_DIR.glob("*") if (p / "voice.info").exists()}
        skipped = sorted(have - set(RHVOICE_VOICES))
        if skipped:
            log.info("rhvoice: not using %s (license: %s)", skipped,
                     [VOICE_LICENSES.get(f"rhvoice/{v}", ("unknown license", False))[0] for v in skipped])
        if [v for v in RHVOICE_VOICES if v in have]:
            out["rhvoice"] = [v for v in RHVOICE_VOICES if v in have]
    if "pico" in engines and shutil.which("pico2wave"):
        out["pico"] = list(PICO_VOICES)
    if "mbrola" in engines and shutil.which("mbrola") and shutil.which("espeak-ng"):
        names = [v for v in MBROLA_VOICES if (MBROLA_DIR / v / v).exists()]
        if names:
            out["mbrola"] = names
    return out


def is_held_out(engine: str, name: str) -> bool:
    return engine == "rhvoice" and name == "slt"


def pick_voice(engine: str, name: str, rng: random.Random) -> Voice:
    """Prosody for one clip. rhvoice/pico: rate and pitch in percent (100 = default); mbrola: espeak-ng units."""
    if engine == "rhvoice":
        return Voice(engine, name, rate=rng.randint(75, 140), pitch=rng.randint(85, 120))
    if engine == "pico":
        return Voice(engine, name, rate=rng.randint(75, 135), pitch=rng.randint(85, 120))
    if engine == "mbrola":
        return Voice(engine, name, rate=rng.randint(130, 200), pitch=rng.randint(30, 70),
                     gap=rng.choice([0, 0, 0, 0, 1, 2, 4]))
    raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(DEBIAN_EXTRA_ENGINES)}")


def _run(cmd: list[str], text_in: str | None = None, timeout: float = 60) -> None:
    subprocess.run(cmd, input=text_in, text=True, capture_output=True, check=True, timeout=timeout)


def synthesize(voice: Voice, text: str, tmpdir: Path) -> tuple[np.ndarray, int]:
    """Raw engine output as float32 mono and its sample rate."""
    fd, wav = tempfile.mkstemp(suffix=".wav", dir=tmpdir)
    os.close(fd)
    try:
        if voice.engine == "rhvoice":
            _run(["RHVoice-test", "-p", voice.name, "-r", str(int(voice.rate)), "-t", str(int(voice.pitch)),
                  "-o", wav], text_in=text + "\n")
        elif voice.engine == "pico":
            safe = text.replace("&", " and ").replace("<", " ").replace(">", " ")
            _run(["pico2wave", "-l", voice.name, "-w", wav,
                  f'<speed level="{int(voice.rate)}"><pitch level="{int(voice.pitch)}">{safe}</pitch></speed>'])
        elif voice.engine == "mbrola":
            # amplitude 70: at the default 100 some clips clip (raw peak 1.0 in 1 of 24 test clips)
            _run(["espeak-ng", "-v", f"mb-{voice.name}", "-s", str(int(voice.rate)), "-p", str(int(voice.pitch)),
                  "-g", str(voice.gap), "-a", "70", "-w", wav], text_in=text)
        else:
            raise ValueError(f"unknown engine {voice.engine!r}; valid: {', '.join(DEBIAN_EXTRA_ENGINES)}")
        data, sr = sf.read(wav, dtype="float32", always_2d=True)
        return data.mean(axis=1), sr
    finally:
        os.unlink(wav)
