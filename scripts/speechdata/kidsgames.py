"""Short real speech from Debian games: KTuberling, KLettres, Tux Paint stamps, Warzone 2100 messages.

Each source is a `.deb` fetched with `apt-get download` and unpacked with `dpkg -x` (nothing installed);
the Ogg Vorbis clips (44.1 kHz; Warzone 11 kHz) become 16 kHz mono PCM_16 FLAC under out/<source>/<speaker>/.

- ktuberling (`ktuberling-data`, usr/share/ktuberling/sounds/en/*.ogg): one English word (or compound)
  naming each toy piece. The package holds no text for them: sounds/en.soundtheme maps sound names to
  files and pics/*.theme map pieces to sound names, so the file name is the only label. It is taken
  after the theme prefix (egypt_, moon_, pizzeria_, tv_), with the spelling fixed where the file name
  is not an English spelling (palmtree, fallingstar, sphynx, broccolli); `ufo` (read as a word or as
  letters) is dropped. One folder, so one speaker label, ktuberling_en (the tv_ clips may be another
  voice; nothing in the package says). License: GPL-2+ (debian/copyright `Files: *`, which covers
  sounds/; copyright 2000-2017 Albert Astals Cid, Eric Bischoff, KDE Team and others).
- klettres (`klettres-data`, usr/share/klettres/{en,en_GB}/): two English speakers, one US (en) and
  one British (en_GB); sounds.xml of each maps the letter/syllable name to its file. alpha/: the 26
  letter names, label the lower-case letter ("b", as the asterisk prompts do). syllab/: kept only
  where the name is an English word (car, dog, ...); the letter groups aw, ch, th have no agreed
  spelling as spoken and are dropped. Speakers klettres_en_us and klettres_en_gb. License: GPL-2+
  (debian/copyright `Files: *`; copyright 2001-2011 Anne-Marie Mahfouf, Eric Bischoff and others).
- tuxpaint (`tuxpaint-stamps-default`, usr/share/tuxpaint/stamps/**/NAME_desc.ogg): the English
  spoken name of a stamp (NAME_desc_xx.ogg are other languages and are skipped). Its text is the first
  line of NAME.txt, e.g. "A frog."; the recordings say the noun phrase without the article (a
  0.5 s "hornet" for "A hornet."), so a leading a/an is removed ("mountaingoat" is split). The rest
  of the line is kept as is: where the clip says less ("A brown hen." read as "hen"), the exact-match
  check below drops it. A stamp without NAME.txt (wallaby) is skipped. Speaker label per source,
  tuxpaint_en (the voices are not credited). License: GPL-2 (debian/copyright `Files: *`,
  "Copyright: 2002-2022 by Bill Kendrick").

- warzone (`warzone2100-data`, usr/share/games/warzone2100/base.wz, a zip): (a) the spoken game messages
  (audio/**/pcv*.ogg, com*.ogg, lz-clear.ogg, power-transferred.ogg), labelled by the comment after each
  file in audio/audio.cfg (`audio "pcv337.ogg" ... /*Structure Under Attack*/`): a description of the
  message that is usually, not always, what is said, so only exact decodes are kept; comments with
  digits, "LZ" (said "landing zone" in com030) or "VTOL(s)" are dropped; (b) the tutorial voice
  (audio/tutorial/tutN.ogg), labelled by the on-screen message that script/tutorial.js pairs with it
  (`{"audio": "tut1.ogg", ..., "message": _("...")}`; entries without a message are skipped). Speakers
  by message family: warzone_pcv (pcv*, lz-clear, power-transferred), warzone_com (com*: commander
  reports), warzone_tutorial; the package does not credit the voices. License: GPL-2+
  (debian/copyright `Files: *`: "1999-2004, Eidos Interactive; 2005-2013, Warzone 2100
  Project"; the game data was released under the GPL in 2004), Debian main.

- qabcs (`qabcs-data`, usr/share/qabcs/abcs/{en,en_gb}/sounds/): the alphabet game's recorded English
  voice, credited to one author (Jordan Irwin) for both the US (en) and British (en_gb) sets; en_gb
  only re-records the words whose British form differs (doughnut, zed, ...). alpha/X.ogg: the letter
  name, labelled by the letter; words/NAME.ogg: the word, labelled by the file name (electric_guitar
  -> "electric guitar"; abc1.json gives the same names in capitals). Speakers by folder, qabcs_en_us
  and qabcs_en_gb (nothing says whether they are different voices). License: GPL-3+ (debian/copyright
  `Files: *`, "2019-2020 DanSoft"), Debian main.

Per-clip checks before decoding: the clip must hold speech (at least 0.12 s of frames within 25 dB
of its loudest frame, no more than 0.8 + letters/3 s of them) and last at most 4 s (warzone: 20 s).

Label check (`speechdata.verify.LabelChecker`, every clip decoded): PocketSphinx constrained by an LM
over the source's own labels. The labels are one to three words, so "better than chance" means the
decode must equal the label; `_verify` makes that explicit and keeps a clip only when LabelChecker
says ok AND the decode is exactly its label. A label with a word missing from the PocketSphinx
dictionary (moonwalker, quetzal, zebu, ...) cannot be decoded and is dropped. Single letters are
in the dictionary as words ("b" = B IY, "a" = AH or EY), so the letter clips are checked the same way;
a British "zed" has no pronunciation there and fails.
"""
from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from .normalize import get_normalizer, is_clean
from .util import fetch_deb, write_flac_16k, write_jsonl_atomic
from .verify import LabelChecker

__all__ = ["build_ktuberling", "build_klettres", "build_tuxpaint", "build_warzone", "build_qabcs", "fetch_deb"]

log = logging.getLogger(__name__)

KTUBERLING_FIX = {"palmtree": "palm tree", "fallingstar": "falling star", "sphynx": "sphinx",
                  "broccolli": "broccoli", "brocolli": "broccoli"}
KTUBERLING_DROP = {"ufo": "acronym (read as a word or as letters)"}
KTUBERLING_THEMES = ("egypt", "moon", "pizzeria", "tv")
KLETTRES_SPEAKERS = {"en": "klettres_en_us", "en_GB": "klettres_en_gb"}
# KLettres "syllables" that are not English words: no agreed spelling for what is said
KLETTRES_NOT_WORDS = {"aw", "ch", "th"}
TUXPAINT_FIX = {"mountaingoat": "mountain goat"}
QABCS_SPEAKERS = {"en": "qabcs_en_us", "en_gb": "qabcs_en_gb"}


def _convert(src: Path, dst: Path) -> np.ndarray:
    """Ogg Vorbis (any rate, any channels) -> 16 kHz mono PCM_16 FLAC at dst; returns the 16 kHz samples."""
    if dst.exists():
        return sf.read(str(dst), dtype="float32")[0]
    x, sr = sf.read(str(src), dtype="float32", always_2d=True)
    return write_flac_16k(dst, x.mean(axis=1), sr)


def _active_seconds(x: np.ndarray, sr: int = 16000, floor_db: float = 25.0) -> float:
    """Seconds of 25 ms frames within floor_db of the loudest frame (a rough speech extent)."""
    n = int(0.025 * sr)
    if len(x) < n:
        return 0.0
    frames = x[: len(x) // n * n].reshape(-1, n)
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    if db.max() < -50:                           # silence
        return 0.0
    return float(np.sum(db > db.max() - floor_db)) * n / sr


def _clip_problem(text: str, x: np.ndarray, max_seconds: float = 4.0) -> str | None:
    letters = sum(c.isalpha() for c in text)
    dur = len(x) / 16000
    active = _active_seconds(x)
    if dur > max_seconds:
        return f"longer than {max_seconds:g} s"
    if active < 0.12:
        return "no speech found"
    if active > 0.8 + letters / 3.0:
        return "too much sound for its text"
    return None


def _label_problem(text: str, letter: bool) -> str | None:
    """Why a normalised label cannot be a transcript (a letter clip's must be one letter), or None."""
    if letter and not re.fullmatch(r"[a-z]", text):
        return "not a single letter"
    if not text or not is_clean(text):
        return "text"
    return None


def _emit(source: str, items: list[dict], out: Path, dropped: dict[str, int],
          max_seconds: float = 4.0) -> tuple[list[dict], dict]:
    """Convert items ({src, name, speaker, text, source_text, ...}), run the clip checks, write the
    unverified manifest; returns the rows and the stats."""
    rows = []
    for it in tqdm(items, desc=source, mininterval=5):
        dst = out / source / it["speaker"] / f"{it['name']}.flac"
        x = _convert(it["src"], dst)
        why = _clip_problem(it["text"], x, max_seconds)
        if why:
            dropped[why] = dropped.get(why, 0) + 1
            log.info("%s: dropped %s (%s)", source, it["src"], why)
            continue
        extra = {k: v for k, v in it.items() if k not in ("src", "name", "speaker", "text")}
        rows.append({"audio": str(dst.resolve()), "text": it["text"], "duration": round(len(x) / 16000, 3),
                     "speaker": it["speaker"], "corpus": source, "source_file": str(it["src"].name), **extra})
    write_jsonl_atomic(out / f"{source}_unverified.jsonl", rows)
    stats = {"unverified_manifest": str(out / f"{source}_unverified.jsonl"), "candidates": len(items),
             "unverified": len(rows), "dropped_before_check": dict(dropped)}
    return rows, stats


def _verify(source: str, rows: list[dict], out: Path, tools: Path) -> dict:
    """Decode every clip; keep those whose decode beats chance and equals the label exactly."""
    checker = LabelChecker((r["text"] for r in rows), tools, out / f"{source}_lm.arpa")
    decisions, kept = [], []
    for r in tqdm(rows, desc=f"{source} verify", mininterval=10):
        d = checker.check(r["audio"], r["text"])
        hyp = re.sub(r"\(\d+\)", "", d["hyp"]).split()
        d["beats_chance"] = d["ok"]
        d["ok"] = bool(d["ok"] and hyp == r["text"].split())
        d["text"] = r["text"]
        d["in_dictionary"] = all(w in checker.known for w in r["text"].split())
        decisions.append(d)
        if d["ok"]:
            kept.append(r)
    write_jsonl_atomic(out / f"{source}_verify.jsonl", decisions)
    write_jsonl_atomic(out / f"{source}.jsonl", kept)
    not_in_dict = sorted({d["text"] for d in decisions if not d["in_dictionary"]})
    stats = {"manifest": str(out / f"{source}.jsonl"), "decoded": len(decisions), "kept": len(kept),
             "pass_rate": round(len(kept) / max(1, len(decisions)), 3),
             "failed_not_in_dictionary": len([d for d in decisions if not d["in_dictionary"]]),
             "labels_not_in_dictionary": not_in_dict,
             "hours": round(sum(r["duration"] for r in kept) / 3600, 4),
             "speakers": sorted({r["speaker"] for r in kept}),
             "per_speaker_kept": {s: sum(r["speaker"] == s for r in kept) for s in sorted({r["speaker"] for r in rows})}}
    log.info("%s verify: %s", source, stats)
    return stats


def build_ktuberling(out: Path, downloads: Path, tools: Path) -> dict:
    normalize = get_normalizer()
    root = fetch_deb("ktuberling-data", downloads) / "usr/share/ktuberling/sounds"
    items, dropped = [], {}
    for src in sorted((root / "en").glob("*.ogg")):
        stem = src.stem
        theme, _, word = stem.partition("_")
        if not word or theme not in KTUBERLING_THEMES:
            word = stem
        if word in KTUBERLING_DROP:
            dropped[KTUBERLING_DROP[word]] = dropped.get(KTUBERLING_DROP[word], 0) + 1
            continue
        text = normalize(KTUBERLING_FIX.get(word, word.replace("_", " ")))
        if not text or not is_clean(text):
            dropped["text"] = dropped.get("text", 0) + 1
            continue
        items.append({"src": src, "name": stem, "speaker": "ktuberling_en", "text": text, "source_text": stem})
    rows, stats = _emit("ktuberling", items, out, dropped)
    stats.update(_verify("ktuberling", rows, out, tools))
    return stats


def build_klettres(out: Path, downloads: Path, tools: Path) -> dict:
    normalize = get_normalizer()
    root = fetch_deb("klettres-data", downloads) / "usr/share/klettres"
    items, dropped = [], {}
    for lang, speaker in KLETTRES_SPEAKERS.items():
        tree = ET.parse(root / lang / "sounds.xml")
        for kind in ("alphabet", "syllables"):
            for snd in tree.getroot().iter(kind):
                for s in snd.iter("sound"):
                    name, rel = s.get("name", ""), s.get("file", "")
                    src = root / rel
                    if not src.exists():
                        dropped["no audio file"] = dropped.get("no audio file", 0) + 1
                        continue
                    text = normalize(name.lower())
                    if kind == "syllables" and text in KLETTRES_NOT_WORDS:
                        dropped["syllable is not a word"] = dropped.get("syllable is not a word", 0) + 1
                        continue
                    why = _label_problem(text, letter=kind == "alphabet")
                    if why:
                        dropped[why] = dropped.get(why, 0) + 1
                        continue
                    items.append({"src": src, "name": f"{kind}_{src.stem.lower()}", "speaker": speaker,
                                  "text": text, "source_text": name, "kind": kind})
    rows, stats = _emit("klettres", items, out, dropped)
    stats.update(_verify("klettres", rows, out, tools))
    return stats


def _tuxpaint_text(txt: Path) -> str:
    first = txt.read_text(encoding="utf-8", errors="replace").splitlines()[0].strip()
    words = [TUXPAINT_FIX.get(w, w) for w in first.rstrip(".!").split()]
    if words and words[0].lower() in ("a", "an"):
        words = words[1:]
    return " ".join(words)


def build_tuxpaint(out: Path, downloads: Path, tools: Path) -> dict:
    normalize = get_normalizer()
    root = fetch_deb("tuxpaint-stamps-default", downloads) / "usr/share/tuxpaint/stamps"
    items, dropped, seen = [], {}, set()
    for src in sorted(root.rglob("*_desc.ogg")):
        base = src.with_name(src.name[: -len("_desc.ogg")])
        txt = base.with_suffix(".txt")
        if not txt.exists():
            dropped["no text file"] = dropped.get("no text file", 0) + 1
            continue
        raw = _tuxpaint_text(txt)
        text = normalize(raw)
        if not text or not is_clean(text) or re.search(r"\d", raw):
            dropped["text"] = dropped.get("text", 0) + 1
            continue
        name = base.name if base.name not in seen else "_".join(base.relative_to(root).parts)
        seen.add(name)
        items.append({"src": src, "name": name, "speaker": "tuxpaint_en", "text": text,
                      "source_text": txt.read_text(encoding="utf-8", errors="replace").splitlines()[0].strip(),
                      "stamp": str(base.relative_to(root))})
    rows, stats = _emit("tuxpaint", items, out, dropped)
    stats.update(_verify("tuxpaint", rows, out, tools))
    return stats


def _warzone_items(wz: Path, tmp: Path) -> tuple[list[dict], dict[str, int]]:
    """Message clips labelled from audio/audio.cfg comments and tutorial clips from script/tutorial.js;
    the .ogg files are extracted to tmp/."""
    normalize = get_normalizer()
    items, dropped = [], {}

    def drop(why: str) -> None:
        dropped[why] = dropped.get(why, 0) + 1

    with zipfile.ZipFile(wz) as z:
        oggs = {Path(n).name: n for n in z.namelist() if n.startswith("audio/") and n.endswith(".ogg")}
        pairs = []
        for line in z.read("audio/audio.cfg").decode("latin-1").splitlines():
            m = re.search(r'audio\s+"([^"]+)".*?/\*(.*?)\*/', line)
            if m and re.match(r"(pcv|com)\d+\.ogg$|lz-clear\.ogg$|power-transferred\.ogg$", m.group(1)):
                spk = "warzone_com" if m.group(1).startswith("com") else "warzone_pcv"
                pairs.append((m.group(1), m.group(2).strip(), spk, "audio.cfg"))
        js = z.read("script/tutorial.js").decode("utf-8", errors="replace")
        for m in re.finditer(r'"audio":\s*"(tut\d+\.ogg)"[^}]*?"message":\s*(_\("((?:[^"\\]|\\.)*)"\)|undefined)', js):
            if m.group(3) is None:
                drop("tutorial clip without text")
                continue
            pairs.append((m.group(1), m.group(3), "warzone_tutorial", "tutorial.js"))
        seen = set()
        for fname, raw, spk, origin in pairs:
            if fname in seen:
                continue
            seen.add(fname)
            if fname not in oggs:
                drop("no audio file")
                continue
            if re.search(r"\d|\bLZ\b|\bVTOLs?\b", raw):
                drop("digits or acronym (LZ, VTOL)")
                continue
            text = normalize(raw)
            if not text or not is_clean(text):
                drop("text")
                continue
            src = tmp / fname
            if not src.exists():
                tmp.mkdir(parents=True, exist_ok=True)
                src.write_bytes(z.read(oggs[fname]))
            items.append({"src": src, "name": Path(fname).stem, "speaker": spk, "text": text,
                          "source_text": raw, "label_from": origin})
    return items, dropped


def build_warzone(out: Path, downloads: Path, tools: Path) -> dict:
    root = fetch_deb("warzone2100-data", downloads)
    items, dropped = _warzone_items(root / "usr/share/games/warzone2100/base.wz", downloads / "warzone2100-audio")
    rows, stats = _emit("warzone", items, out, dropped, max_seconds=20.0)
    stats.update(_verify("warzone", rows, out, tools))
    return stats


def qabcs_label(path: Path) -> tuple[str, str]:
    """(kind, label) of a qABCs clip: alpha/b.ogg -> ("alpha", "b"); words/paper_airplane.ogg ->
    ("words", "paper airplane")."""
    kind = path.parent.name
    return kind, path.stem.lower().replace("_", " ").strip()


def build_qabcs(out: Path, downloads: Path, tools: Path) -> dict:
    normalize = get_normalizer()
    root = fetch_deb("qabcs-data", downloads) / "usr/share/qabcs/abcs"
    items, dropped = [], {}
    for lang, speaker in QABCS_SPEAKERS.items():
        for src in sorted((root / lang / "sounds").glob("*/*.ogg")):
            kind, label = qabcs_label(src)
            if kind not in ("alpha", "words"):
                continue
            text = normalize(label)
            why = _label_problem(text, letter=kind == "alpha")
            if why:
                dropped[why] = dropped.get(why, 0) + 1
                continue
            items.append({"src": src, "name": f"{kind}_{src.stem.lower()}", "speaker": speaker,
                          "text": text, "source_text": src.stem, "kind": kind})
    rows, stats = _emit("qabcs", items, out, dropped)
    stats.update(_verify("qabcs", rows, out, tools))
    return stats
