"""Flight of the Amazon Queen (Debian `flight-of-the-amazon-queen`, CD talkie version): multi-actor English speech.

The package holds one ScummVM resource file, queen.1c: a `QTBL` table of named entries, among them
the dialogue files (*.DOG), the cutaway scenes (*.CUT), the text tables (QUEEN.JAS binary, QUEEN2.JAS
text lines) and the speech (*.SB: MP3, 11 kHz mono). A spoken line is split at `*XX` commands into
segments, and segment k is played from <prefix><k+1 as one hex digit>.SB (spaces as zeros). The
prefix, re-implemented here from the description in ScummVM's engines/queen (talk.cpp Talk::load,
findDialogueString, speak, speakSegment; cutaway.cpp Cutaway::load, run, handlePersonRecord,
handleText; logic.cpp readQueenJas, makeJoeSpeak), gives three kinds of rows:

- "dialogue" (*.DOG): `%2d%4x{J|P}` from the file's talk key and line id; J for Joe, P for the other
  person of that dialogue file. These rows have no "kind" field (kept byte-identical to the first build).
- "cutaway" (*.CUT): the sentence list holds an entry string and one sentence per object record;
  record i of scene NAME speaks from NAME padded with '_' to 5 characters + `%02d` i. Person records
  are split into segments; spoken-text records (object -2/-3) play the whole sentence from segment 1.
  The object records are walked (17 words, a person list, animation frames for animated objects, as
  decided from the object's image in QUEEN.JAS) to know who speaks: Joe, a character (labelled like the
  dialogue files where it is the same character), `fotaq_cutaway_text` (spoken-text records, mixed
  voices) or `fotaq_cutaway_other` (a stand-in prop renamed while the scene runs: voice unknown).
- "object": Joe's stock responses i (JOE%04d of i) and object descriptions d (JOE%04d of d + 40),
  texts from QUEEN2.JAS. The 13 panel labels among the responses (restart/give-up prompts, menu words)
  are left out.

New kinds drop sound effects and lines not read as written (all-capital cries, a letter three times in
a row, digits, symbols). Still unmapped: the sound effects named like 1001SSSS.SB, 12 MIK_*.SB,
TOM_0826.SB, UNTITLE?.SB and ROCKPAKS.SB (no text in the game data).
License: the game's own license (free redistribution, modification allowed; see
/usr/share/doc/flight-of-the-amazon-queen/copyright), "Copyright 1995 John Passfield and Steven Stamatiadis".

Checks: the text must normalise to a-z/'/space words, and the duration must fit the letters
(0.8 + letters/3 >= seconds >= letters/25). `verify_fotaq` then decodes a sample of clips of each kind
(or all) with PocketSphinx constrained by a trigram LM over the game's own lines (`speechdata.verify`):
a decoded clip must fit its own line better than chance; a group (dialogue file, cutaway scene, block
of 50 Joe lines) and a whole kind whose decoded clips do not are dropped.
"""
from __future__ import annotations

import io
import logging
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from .normalize import (DICTIONARIES, DICTIONARY_PACKAGES, duration_problem, get_normalizer, is_clean, names_in,
                        non_words)
from .util import apt_install, fetch_deb, read_jsonl, write_flac_16k, write_jsonl_atomic
from .verify import CheckLog, LabelChecker, group_rule

__all__ = ["build_fotaq", "verify_fotaq", "QueenResources", "read_jas", "dialogue_segments", "cutaway_segments",
           "object_segments"]

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


# Joe responses that are panel labels or prompts ("Do you want to RESTART (Y/N)?", "Music Volume", ...),
# not lines of the game, although a voice file exists for them.
_UI_RESPONSES = {22, 23} | set(range(30, 41))
JOE_RESPONSE_MAX = 40

# Cutaway speakers (object names in queen.jas) that are characters of a dialogue file: use its label.
_SPEAKER_ALIASES = {
    "joe": "joe", "joe king": "joe", "trader bob": "bob", "frank": "frank", "sparky": "sparky",
    "faye": "faye", "anderson": "and", "john": "john", "witch doctor": "witch", "zombie woman": "zombie",
    "klunk": "klunk", "ian": "ian", "secretary": "sec", "jimmy": "jim", "chef": "chef", "lola": "lola",
    "bud": "bud", "naomi": "naomi", "chief": "chief", "henry": "henry", "wedgewood": "wedge",
    "showering amazon": "showeram", "princess azura": "prin", "azura obj": "prin", "mary-lou": "lou",
    "guard dog": "dog", "tammy": "tam",
}


# Person records whose object name is a stand-in (a prop renamed while the scene runs): voice unknown.
_STAND_INS = {"note", "path", "smoke", "telephone", "torch", "buttons", "door", "rock", "lily pad"}


def _speaker(name: str) -> str:
    key = name.strip().lower()
    if key in _STAND_INS:
        return "fotaq_cutaway_other"
    return "fotaq_" + _SPEAKER_ALIASES.get(key, re.sub(r"[^a-z0-9]+", "_", key).strip("_"))


def _spoken_line(seg: str) -> bool:
    """False for sound effects and texts that are not read as written: "BUUUURP!", "<CRUNCH>", "GLUB!",
    "&#($!!", a letter three times in a row, all-capital one- or two-word cries, digits."""
    if re.search(r"[0-9<>&#$()\[\]{}@%=+_/\\|~^]", seg):
        return False
    if re.search(r"([a-z])\1\1", seg.lower()):
        return False
    words = re.findall(r"[A-Za-z']+", seg)
    if not words or (len(words) <= 2 and not any(c.islower() for c in seg)):
        return False
    return True


@dataclass
class QueenJas:
    """The parts of QUEEN.JAS (binary) and QUEEN2.JAS (text lines) needed here."""
    descriptions: list[str]      # object descriptions, 1-based numbers in the game
    names: list[str]             # object names
    responses: list[str]         # Joe's stock responses (JOE_RESPONSE_MAX of them)
    objects: list[tuple]         # object records (name, x, y, description, entry, room, state, image); [0] unused


def read_jas(res: QueenResources) -> QueenJas:
    """Header counts and object records of QUEEN.JAS; string tables of QUEEN2.JAS (CRLF lines in the order
    descriptions, names, rooms, 12 verbs, Joe responses, ...), as ScummVM's Logic::readQueenJas describes."""
    b = res.read("QUEEN.JAS", 20)
    n_rooms, n_names, n_objects, n_desc = struct.unpack(">4H", b[:8])
    objects: list[tuple] = [()] + [struct.unpack(">8h", b[8 + 16 * i:24 + 16 * i]) for i in range(n_objects)]
    lines = res.read("QUEEN2.JAS").decode("latin-1").split("\r\n")
    resp = n_desc + n_names + n_rooms + 12
    return QueenJas(lines[:n_desc], lines[n_desc:n_desc + n_names],
                    lines[resp:resp + JOE_RESPONSE_MAX], objects)


def _spoken_segments(res: QueenResources, prefix: str, sentence: str) -> list[tuple[str, str]]:
    """(voice file name, segment text) for the segments of `sentence` spoken from files prefix + index."""
    out = []
    for idx, seg in _segments(sentence):
        name = f"{prefix}{idx + 1:1x}".upper()
        if seg.strip() and name + ".SB" in res.entries:
            out.append((name, seg))
    return out


def object_segments(res: QueenResources, jas: QueenJas) -> list[dict]:
    """Joe's stock responses and object descriptions: Logic::makeJoeSpeak speaks response i from
    JOE%04d (i) and description d from JOE%04d (d + JOE_RESPONSE_MAX), split into segments as in dialogue."""
    texts = [(i, t, "response") for i, t in enumerate(jas.responses, 1) if i not in _UI_RESPONSES]
    texts += [(d + JOE_RESPONSE_MAX, t, "description") for d, t in enumerate(jas.descriptions, 1)
              if not t.upper().endswith(".CUT")]
    items = []
    for num, text, what in texts:
        for name, seg in _spoken_segments(res, f"JOE{num:04d}", text):
            items.append({"name": name, "text": seg, "speaker": "fotaq_joe", "kind": "object",
                          "group": f"JOE{(num - 1) // 50 * 50 + 1:04d}", "jas": what})
    return items


def _cutaway_type(obj: tuple, jas: QueenJas) -> str:
    """What Cutaway::run does with an object record: 'anim' (animation frames follow), 'person', 'text', 'none'."""
    num, anim_list, execute, from_obj = obj[0], obj[4], obj[5], obj[12]
    num = 0 if num == -1 else num                  # room-fade record: Joe
    kind = "anim"
    if num > 0 and not anim_list and jas.objects[num][7] in (-3, -4):
        kind = "person"
    elif num == 0 and not anim_list:
        kind = "person"
    if from_obj > 0:
        kind = "none"
    if num in (-2, -3):
        kind = "text"                              # spoken (and maybe shown) text, one voice file
    elif num == -4:
        kind = "none"                              # text shown only
    if kind == "anim" and not execute:
        kind = "none"
    return kind


def cutaway_segments(res: QueenResources, jas: QueenJas) -> list[dict]:
    """The spoken lines of every .CUT scene (layout as in ScummVM's Cutaway::load/run/handlePersonRecord/
    handleText). Header after 20 bytes: panel, object count, flags, game-state offset, sentence offset,
    bank-name offset, then object records (17 words, a person list, animation frames for animated
    objects). The sentence list holds an entry string and then one sentence per object record; object i
    (1-based) speaks from files named <scene padded with '_' to 5 characters><i as %02d><segment>."""
    items = []
    for cut in sorted(n for n in res.entries if n.endswith(".CUT")):
        b = res.read(cut, 20)
        count, off, p = abs(_i16(b, 2)), _u16(b, 8), 12
        sentences = []
        for _ in range(count + 1):
            s, off = _string(b, off)
            sentences.append(s)
        base = cut[:-4]
        scene = re.match(r"C\d+|[A-Z]+", base).group(0)
        for i in range(1, count + 1):
            obj = struct.unpack(">17h", b[p:p + 34])
            p += 34
            p += 2 + 2 * _i16(b, p)                # people turned on
            kind = _cutaway_type(obj, jas)
            if kind == "anim":                     # frames of 9 words after a header, up to header -2
                while _i16(b, p) != -2:
                    if _i16(b, p) > 1000:
                        raise ValueError(f"{cut}: bad animation header in object {i}")
                    p += 20
                p += 2
            prefix = base.ljust(5, "_") + f"{i:02d}"
            if kind == "person":
                num = 0 if obj[0] == -1 else obj[0]
                who = "fotaq_joe" if num == 0 else _speaker(jas.names[abs(jas.objects[num][0]) - 1])
                segs = _spoken_segments(res, prefix, sentences[i])
            elif kind == "text":
                who = "fotaq_cutaway_text"         # captions and voices without a person record
                name = (prefix + "1").upper()
                segs = [(name, sentences[i])] if name + ".SB" in res.entries and sentences[i].strip() else []
            else:
                continue
            for name, seg in segs:
                items.append({"name": name, "text": seg, "speaker": who, "kind": "cutaway",
                              "group": scene, "cut": cut})
    return items


def fetch_package(downloads: Path) -> Path:
    """The game package unpacked (no install, no scummvm needed); returns queen.1c."""
    return fetch_deb(PACKAGE, downloads, marker=RESOURCE) / RESOURCE


@dataclass
class _Clip:
    ok: bool
    reason: str


def _check(text: str, dur: float) -> _Clip:
    why = duration_problem(text, dur)
    return _Clip(why is None, why or "ok")


def build_fotaq(out: Path, downloads: Path) -> dict:
    """Decode the dialogue speech to 16 kHz FLAC under out/fotaq/ and write out/fotaq_unverified.jsonl."""
    normalize = get_normalizer()
    if not all(p.exists() for p in DICTIONARIES):
        try:
            apt_install(DICTIONARY_PACKAGES)
        except Exception as exc:  # the build still works, only without the non-English-words check
            log.warning("word lists not installed (%s): lines in invented languages are not caught", exc)
    res = QueenResources(fetch_package(downloads))
    jas = read_jas(res)
    items = dialogue_segments(res)
    seen = {it["name"] for it in items}
    items += [it for it in cutaway_segments(res, jas) + object_segments(res, jas) if it["name"] not in seen]
    names = names_in(it["text"] for it in items)
    rows, dropped = [], {}
    for it in tqdm(items, desc="fotaq", mininterval=5):
        kind = it.get("kind", "dialogue")
        text = normalize(it["text"])
        path = out / "fotaq" / it["speaker"] / f"{it['name']}.flac"
        if kind != "dialogue" and not _spoken_line(it["text"]):
            dropped[f"{kind}: sound effect or not read as written"] = \
                dropped.get(f"{kind}: sound effect or not read as written", 0) + 1
            continue
        if not text or not is_clean(text):
            dropped["text"] = dropped.get("text", 0) + 1
            continue
        if non_words(it["text"], names):  # the ape's grunts, the witch's pygmy: no agreed spelling
            dropped["not English words"] = dropped.get("not English words", 0) + 1
            continue
        if not path.exists():
            x, sr = sf.read(io.BytesIO(res.read(it["name"] + ".SB")), dtype="float32", always_2d=True)
            if sr not in (11025, 16000):
                raise ValueError(f"unexpected sample rate {sr} in {it['name']}.SB")
            write_flac_16k(path, x.mean(axis=1), sr)
        dur = sf.info(str(path)).duration
        chk = _check(text, dur)
        if not chk.ok:
            dropped[chk.reason] = dropped.get(chk.reason, 0) + 1
            continue
        row = {"audio": str(path.resolve()), "text": text, "duration": round(dur, 3),
               "speaker": it["speaker"], "corpus": "fotaq", "source_file": it["name"] + ".SB",
               "source_text": it["text"]}
        if kind == "dialogue":
            row["dog"] = it["dog"]                 # dialogue rows keep their original fields (no "kind")
        else:
            row.update({"kind": kind, "group": it["group"]},
                       **{k: it[k] for k in ("cut", "jas") if k in it})
        rows.append(row)
    dst = out / "fotaq_unverified.jsonl"
    write_jsonl_atomic(dst, rows)
    per_kind = {}
    for r in rows:
        k = per_kind.setdefault(_kind(r), {"utterances": 0, "hours": 0.0})
        k["utterances"] += 1
        k["hours"] += r["duration"] / 3600
    stats = {"manifest": str(dst), "segments": len(items), "utterances": len(rows),
             "hours": round(sum(r["duration"] for r in rows) / 3600, 3),
             "speakers": len({r["speaker"] for r in rows}), "dropped": dropped,
             "per_kind": {k: {"utterances": v["utterances"], "hours": round(v["hours"], 3)}
                          for k, v in per_kind.items()}}
    log.info("fotaq: %s", stats)
    return stats


def _kind(row: dict) -> str:
    return row.get("kind", "dialogue")


def _group(row: dict) -> str:
    """Group for `verify.group_rule`: the dialogue file; a cutaway's scene (room number, e.g. C18 for
    C18A-C18E.CUT); for Joe's responses and descriptions a block of 50 JOE file numbers."""
    return row["dog"] if _kind(row) == "dialogue" else f"{row['kind']}:{row['group']}"


def _decide(rows: list[dict], decisions: list[dict], min_kind: int = 30) -> tuple[list[dict], dict]:
    """Clip rule: the decode fits its own line better than random lines of the same length.
    Group rule (`verify.group_rule`): a dialogue file / cutaway scene / block of Joe's lines whose decoded
    clips fit no better than chance is dropped. Kind rule: the same test over each kind (dialogue,
    cutaway, object) with `min_kind` or more decoded clips; a kind with fewer decoded clips is not kept yet."""
    bad_groups = group_rule(decisions, {r["audio"]: _group(r) for r in rows})
    kind_of = {r["audio"]: _kind(r) for r in rows}
    bad_kinds = group_rule(decisions, kind_of, min_decoded=min_kind)
    n_kind: dict[str, int] = {}
    for d in decisions:
        if d["audio"] in kind_of:
            n_kind[kind_of[d["audio"]]] = n_kind.get(kind_of[d["audio"]], 0) + 1
    unchecked = {k for k in set(kind_of.values()) if n_kind.get(k, 0) < min_kind}
    failed = {d["audio"] for d in decisions if not d["ok"]}
    kept = [r for r in rows if r["audio"] not in failed and _group(r) not in bad_groups
            and _kind(r) not in bad_kinds | unchecked]
    return kept, {"dropped_groups": sorted(bad_groups), "dropped_kinds": sorted(bad_kinds),
                  "unchecked_kinds": sorted(unchecked), "failed_clips": len(failed)}


def verify_fotaq(out: Path, tools: Path, sample: int | None = 400, seed: int = 0) -> dict:
    """Check the text-to-speech-file mapping with PocketSphinx and write out/fotaq.jsonl.

    PocketSphinx (US English model, trigram LM built from this source's own lines) is weak on this
    11 kHz MP3 acted speech (median WER about 0.8 against the right line), so it cannot prove each
    word; it can show whether a clip fits its own line better than chance. Chance is the mean WER of
    the same decode against random other lines of the game of about the same length (median about 1.1).
    A decoded clip is kept when its own line fits better than chance; a group (dialogue file, cutaway
    scene, block of 50 Joe lines) whose decoded clips fit no better than chance on average, or pass less
    than half the time, is dropped whole, and so is a whole kind (dialogue, cutaway, object) by the same
    test; undecoded clips of the other groups are kept. Up to `sample` clips of each kind are decoded
    (None: all, resumable, about 1-3 s per clip); earlier decodes in out/fotaq_verify.jsonl are kept and
    count towards the sample. Decisions go to out/fotaq_verify.jsonl; out/fotaq.jsonl is rewritten every
    100 clips.
    """
    import random

    rows = read_jsonl(out / "fotaq_unverified.jsonl")
    checker = LabelChecker((r["text"] for r in rows), tools, out / "fotaq_lm.arpa")

    def tag(res: dict, r: dict) -> dict:
        extra = {"dog": r["dog"]} if _kind(r) == "dialogue" else {"kind": r["kind"], "group": _group(r)}
        return {**res, **extra}

    checks = CheckLog(checker, rows, out / "fotaq_verify.jsonl", tag=tag)
    decisions, by_audio = checks.decisions, checks.by_audio

    def flush() -> tuple[list[dict], dict]:
        checks.save()
        kept, info = _decide(rows, decisions)
        write_jsonl_atomic(out / "fotaq.jsonl", kept)
        return kept, info

    todo = []
    for kind in sorted({_kind(r) for r in rows}):
        left = [r for r in rows if _kind(r) == kind and r["audio"] not in checks.done]
        if sample is not None:
            n_done = sum(_kind(by_audio[a]) == kind for a in checks.done)
            left = random.Random(f"{seed}:{kind}").sample(left, min(max(0, sample - n_done), len(left)))
        todo += left
    random.Random(seed).shuffle(todo)
    kept, info = checks.decode(todo, flush, "fotaq verify")
    per_kind = {}
    for kind in sorted({_kind(r) for r in rows}):
        ds = [d for d in decisions if _kind(by_audio[d["audio"]]) == kind]
        ks = [r for r in kept if _kind(r) == kind]
        per_kind[kind] = {"decoded": len(ds), "pass_rate": round(sum(d["ok"] for d in ds) / max(1, len(ds)), 3),
                          "mean_wer": round(sum(d["wer"] for d in ds) / max(1, len(ds)), 3),
                          "mean_chance_wer": round(sum(d["random_label_wer"] for d in ds) / max(1, len(ds)), 3),
                          "kept": len(ks), "hours": round(sum(r["duration"] for r in ks) / 3600, 3)}
    rate = sum(d["ok"] for d in decisions) / max(1, len(decisions))
    stats = {"manifest": str(out / "fotaq.jsonl"), "decoded": len(decisions), "pass_rate": round(rate, 3),
             **info, "per_kind": per_kind, "kept": len(kept),
             "hours": round(sum(r["duration"] for r in kept) / 3600, 3),
             "speakers": len({r["speaker"] for r in kept})}
    log.info("fotaq verify: %s", stats)
    return stats
