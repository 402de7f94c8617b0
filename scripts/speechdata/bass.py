"""Beneath a Steel Sky (Debian `beneath-a-steel-sky`, CD version v0.0372 with speech): multi-actor English speech.

The package (main) ships usr/share/scummvm/beneath-a-steel-sky/{sky.dsk, sky.dnr, sky.cpt}; the .deb is
fetched with `apt-get download` and unpacked with `dpkg -x` (nothing installed). The formats below are
re-implemented here from the description of ScummVM's engines/sky (disk.cpp, rnc_deco.cpp, text.cpp,
hufftext.cpp, sound.cpp); no ScummVM code is used.

- sky.dnr: a uint32 LE entry count, then 8-byte entries: uint16 file number, uint24 offset (bit 23:
  the offset is in 16-byte units), uint24 flags (bits 0-21 size in sky.dsk, bit 22: the unpacked file
  has no 22-byte header, bit 23: stored, not packed).
- A packed file starts with a 22-byte header (uint16 words: flag, x, y, width, height, sprite size,
  total size, ...); flag bit 7 means RNC ProPack method 1 data follows ("RNC\\1", BE unpacked/packed
  length, two CRC-16s, leeway, block count; then per block three canonical Huffman tables and
  literal/match runs read from a stream of LE 16-bit words). `rnc1_unpack` decodes it.
- Text: English text section s (0-7) is file 60600 + s; a text number is (s << 12) | index, index =
  32 * block + line. A section holds a table of block lengths, per line a skip byte and a bit stream of
  Huffman-coded characters; the code tree (game version 0.0372) lives in the game executable, not in
  the data files, so it is stored here as `_TREE_372` (the leaves in preorder; -1 marks an inner node).
- Speech: text number t is spoken by file 50000 + CONVERT[t >> 12] + (t & 0xFFF), CONVERT =
  (0, 600, 1100, 2430, 3380, 4530, 5080, 5230); packed, and after the 22-byte header it is raw unsigned
  8-bit mono PCM at 11025 Hz. 222 speech files have no text line and are skipped: 159 above these
  ranges (59494-59672, the CD intro narration) and 63 inside them.

Speaker: the text of a line does not say who speaks it (the speaker is the compact that the game's
script passes to fnSpeakMe; parsing the compiled scripts is not done), so the speaker field is the text
section, `bass_section<N>`: sections follow the game's areas (N = 0..7), so one "speaker" mixes the
voices of that area's characters (Robert Foster speaks in every section).

License (usr/share/doc/beneath-a-steel-sky/copyright, "Beneath-a-Steel-Sky-License"): free
redistribution on any medium with the readme and copyright notices intact, may be part of a larger
(also commercial) distribution, no fee for the game itself, modification allowed if marked as
modified; "All game content is (C) Revolution Software Ltd." Debian ships it in main (DFSG-free,
same terms as FOTAQ and Drascula).

Checks: texts with digits, elongated words (SHHHH), laughter/babble/hesitation words (ha, hmm, er),
muffled non-words without a vowel (mmf, mgh), acronyms and abbreviations (ID, HQ, TV, St, IFPs)
or only interjections (Oh!) are dropped as ambiguous or non-verbal; Mr/Mrs/Dr are written out (mister,
missus, doctor) before normalising; the text must normalise to a-z/'/space words and the duration
must fit the letters (0.8 + letters/3 >= seconds >= letters/25).
`verify_bass` then decodes a random sample of clips (or all) with PocketSphinx under a trigram LM
of all BASS lines (`speechdata.verify`): a decoded clip is kept when its own line fits better than
chance, and a section whose decoded clips fit no better than chance (or pass less than half the
time) is dropped whole (`group_rule`); undecoded clips of the other sections are kept under that
group rule.
"""
from __future__ import annotations

import logging
import random
import re
import struct
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from .normalize import duration_problem, get_normalizer, text_problem
from .util import fetch_deb, read_jsonl, write_flac_16k, write_jsonl_atomic
from .verify import CheckLog, LabelChecker, group_rule

__all__ = ["build_bass", "verify_bass", "SkyDisk", "rnc1_unpack", "section_texts", "speech_file_number"]

log = logging.getLogger(__name__)
PACKAGE = "beneath-a-steel-sky"
DATA_DIR = "usr/share/scummvm/beneath-a-steel-sky"
SAMPLE_RATE = 11025
HEADER = 22
TEXT_FILE0 = 60600                  # English text sections 0..7
SPEECH_FILE0 = 50000
CONVERT = (0, 600, 1100, 2430, 3380, 4530, 5080, 5230)
SECTION_LINES = 150                 # lines counted for the last section (its speech range end)
SMALL_GROUP = 30                    # sections with fewer clips are decoded whole by verify_bass
BABBLE = {"ha", "hah", "haha", "hahaha", "heh", "hehe", "hee", "hmm", "hm", "mmm", "mm", "uh", "um", "er", "erm",
          "argh", "aargh", "ugh", "tsk", "psst", "sh", "shh", "zzz", "blah", "la", "tra", "hic", "grr", "ahh", "ohh",
          "ulp", "yeuuch", "m'phug"}
INTERJECTIONS = {"ah", "aah", "oh", "ooh", "eh", "aha", "wow", "ow", "ouch", "huh", "ahem", "yo", "hey", "oi", "whoa"}

# Huffman code tree of BASS 0.0372 text: leaf character codes in preorder, -1 = inner node
# (its left subtree follows it directly, then its right subtree).
_TREE_372 = (
    -1, -1, -1, 32, -1, 101, 97, -1, -1, -1, 111, 115, -1, 116, 110, -1, -1, 46, 105, 114, -1, -1, -1, -1,
    -1, 0, 69, 117, -1, 109, 65, -1, -1, -1, 108, 73, -1, 100, 82, -1, -1, 78, 83, 84, -1, -1, -1, -1, -1,
    79, 104, 99, -1, 68, 103, -1, -1, -1, 76, 67, -1, 112, 85, -1, -1, 33, 121, 77, -1, -1, -1, -1, -1, 80,
    118, 72, -1, 63, 98, -1, -1, -1, 39, 102, 44, -1, 71, 66, -1, -1, -1, -1, -1, 86, 107, 70, -1, 113, 119,
    -1, -1, -1, 75, 45, 87, -1, 74, 42, -1, -1, -1, -1, 122, 89, -1, 106, 43, -1, -1, -1, 81, 133, 41, -1,
    -1, 90, 139, 60, -1, -1, -1, -1, -1, 149, 126, 138, -1, 135, 58, -1, -1, -1, 127, 93, 35, -1, -1, 120,
    88, 145, -1, -1, -1, -1, -1, 136, 96, 50, -1, -1, 48, 131, 49, -1, -1, -1, 47, 40, 61, -1, 134, 94, -1,
    -1, -1, -1, 51, 57, -1, 152, 52, -1, -1, -1, 125, 56, 92, -1, 34, 144, -1, -1, -1, -1, 38, 141, -1, 53,
    54, -1, -1, 146, 143, -1, 142, 147, -1, -1, -1, -1, 140, 55, 128, -1, -1, 129, 153, -1, 36, 64, -1, -1,
    -1, -1, 91, 154, 95, -1, 62, 150, -1, -1, -1, 130, 37, 9, -1, -1, 156, 151, -1, 123, -1, 148, 33,
)


def _tree_codes(tree=_TREE_372) -> dict[tuple[int, int], int]:
    """{(code length, code value MSB-first): character} from the preorder leaf list."""
    codes: dict[tuple[int, int], int] = {}
    pos = 0

    def walk(length: int, value: int) -> None:
        nonlocal pos
        v = tree[pos]
        pos += 1
        if v >= 0:
            codes[(length, value)] = v
            return
        walk(length + 1, value << 1)
        walk(length + 1, (value << 1) | 1)

    walk(0, 0)
    if pos != len(tree):
        raise ValueError("malformed text code tree")
    return codes


# ---------------------------------------------------------------------------------------------------
# RNC ProPack method 1
# ---------------------------------------------------------------------------------------------------

def _crc16(data: bytes) -> int:
    table = _crc16.table  # type: ignore[attr-defined]
    crc = 0
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def _make_crc_table() -> list[int]:
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t.append(c)
    return t


_crc16.table = _make_crc_table()  # type: ignore[attr-defined]


class _Bits:
    """LSB-first bit reader over little-endian 16-bit words; literal runs are read between the words."""

    __slots__ = ("data", "pos", "buf", "n")

    def __init__(self, data: bytes, pos: int):
        self.data, self.pos, self.buf, self.n = data, pos, 0, 0

    def read(self, k: int) -> int:
        if self.n < k:
            d, p = self.data, self.pos
            self.buf |= (d[p] | (d[p + 1] << 8)) << self.n
            self.pos = p + 2
            self.n += 16
        v = self.buf & ((1 << k) - 1)
        self.buf >>= k
        self.n -= k
        return v

    def table(self) -> dict[tuple[int, int], int]:
        """A canonical Huffman table: 5-bit symbol count, 4-bit code lengths, codes in length order."""
        count = self.read(5)
        lengths = [self.read(4) for _ in range(count)]
        codes, code = {}, 0
        for length in range(1, 17):
            for sym, ln in enumerate(lengths):
                if ln == length:
                    codes[(length, code >> (16 - length))] = sym
                    code += 1 << (16 - length)
        return codes

    def value(self, codes: dict[tuple[int, int], int]) -> int:
        v, length = 0, 0
        while True:
            # codes are stored bit-reversed: the first bit read is the code's most significant bit
            v = (v << 1) | self.read(1)
            length += 1
            sym = codes.get((length, v))
            if sym is not None:
                break
            if length > 16:
                raise ValueError("bad RNC Huffman code")
        if sym >= 2:
            sym = (1 << (sym - 1)) | self.read(sym - 1)
        return sym


def rnc1_unpack(packed: bytes, check_crc: bool = True) -> bytes:
    """Unpack an "RNC\\1" block (18-byte header, then the packed stream)."""
    if packed[:4] != b"RNC\x01":
        raise ValueError("not RNC method 1 data")
    unpacked_len, packed_len, crc_unpacked, crc_packed = struct.unpack(">IIHH", packed[4:16])
    blocks = packed[17]
    if check_crc and _crc16(packed[18:18 + packed_len]) != crc_packed:
        raise ValueError("RNC packed CRC mismatch")
    bits = _Bits(packed + b"\0\0\0\0", 18)
    bits.read(2)                        # lock / key flags
    out = bytearray()
    for _ in range(blocks):
        raw_t, pos_t, len_t = bits.table(), bits.table(), bits.table()
        counts = bits.read(16)
        for c in range(counts, 0, -1):
            n = bits.value(raw_t)
            if n:
                # literal bytes sit in the stream where the next bit word would be
                out += bits.data[bits.pos:bits.pos + n]
                bits.pos += n
            if c > 1:
                offset = bits.value(pos_t) + 1
                length = bits.value(len_t) + 2
                start = len(out) - offset
                if offset >= length:
                    out += out[start:start + length]
                else:               # overlapping copy repeats the last `offset` bytes
                    chunk = out[start:]
                    out += (chunk * (length // offset + 1))[:length]
    if len(out) != unpacked_len:
        raise ValueError(f"RNC unpacked {len(out)} bytes, header says {unpacked_len}")
    if check_crc and _crc16(out) != crc_unpacked:
        raise ValueError("RNC unpacked CRC mismatch")
    return bytes(out)


# ---------------------------------------------------------------------------------------------------
# sky.dnr / sky.dsk
# ---------------------------------------------------------------------------------------------------

class SkyDisk:
    """Read-only access to the numbered files of sky.dsk through the sky.dnr directory."""

    def __init__(self, data_dir: Path):
        dnr = (Path(data_dir) / "sky.dnr").read_bytes()
        n = struct.unpack("<I", dnr[:4])[0]
        self.entries: dict[int, tuple[int, int]] = {}
        for i in range(n):
            e = dnr[4 + 8 * i:12 + 8 * i]
            num = e[0] | (e[1] << 8)
            self.entries[num] = (e[2] | (e[3] << 8) | (e[4] << 16), e[5] | (e[6] << 8) | (e[7] << 16))
        if n != 5097:
            log.warning("sky.dnr has %d entries; the code tree here is for v0.0372 (5097 entries)", n)
        self.f = open(Path(data_dir) / "sky.dsk", "rb")

    def __contains__(self, num: int) -> bool:
        return num in self.entries

    def load(self, num: int) -> bytes:
        """The unpacked file; a packed file keeps its 22-byte header unless its flags say otherwise."""
        offset, flags = self.entries[num]
        if offset & 0x800000:
            offset = (offset & 0x7FFFFF) << 4
        self.f.seek(offset)
        data = self.f.read(flags & 0x3FFFFF)
        if flags & 0x800000 or len(data) < HEADER or not (data[0] >> 7) & 1:
            return data                 # stored
        body = rnc1_unpack(data[HEADER:])
        return body if flags & 0x400000 else data[:HEADER] + body


# ---------------------------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------------------------

def section_texts(disk: SkyDisk, section: int, codes: dict | None = None) -> dict[int, str]:
    """{text number: text} of one English text section (Latin-1 for the few codes above 127)."""
    codes = codes or _tree_codes()
    d = disk.load(TEXT_FILE0 + section)
    skip_table, bits_start = struct.unpack("<HH", d[:4])
    n_blocks = (skip_table - 4) // 2
    bits = np.unpackbits(np.frombuffer(d, dtype=np.uint8))
    maxlen = max(k[0] for k in codes)
    out = {}
    block_offset = 0
    for block in range(n_blocks):
        offset = block_offset
        for line in range(32):
            pos = skip_table + 32 * block + line
            if pos >= bits_start or pos >= len(d):
                break
            start = (bits_start + (offset >> 2)) * 8 + (offset & 3) * 2
            chars, i = [], start
            while i < len(bits):
                v, length = 0, 0
                while True:
                    v = (v << 1) | int(bits[i])
                    i += 1
                    length += 1
                    ch = codes.get((length, v))
                    if ch is not None or length > maxlen or i >= len(bits):
                        break
                if ch is None or ch == 0 or len(chars) > 1000:
                    break
                chars.append(ch)
            out[(section << 12) | (32 * block + line)] = bytes(chars).decode("latin-1")
            skip = d[pos]
            offset += (skip & 0x7F) << 3 if skip & 0x80 else skip
        block_offset += struct.unpack("<H", d[4 + 2 * block:6 + 2 * block])[0]
    return out


def speech_file_number(text_num: int) -> int:
    return SPEECH_FILE0 + CONVERT[text_num >> 12] + (text_num & 0xFFF)


def decode_speech(data: bytes) -> np.ndarray:
    """Unsigned 8-bit PCM after the 22-byte header, as float32 in [-1, 1) at 11025 Hz."""
    total = (((data[0] | (data[1] << 8)) & 0xFF00) << 8) | struct.unpack("<H", data[12:14])[0]
    end = total if HEADER < total <= len(data) else len(data)
    return (np.frombuffer(data[HEADER:end], dtype=np.uint8).astype(np.float32) - 128.0) / 128.0


def fetch_package(downloads: Path) -> Path:
    """The game package unpacked (no install, no scummvm needed); returns the data folder."""
    return fetch_deb(PACKAGE, downloads, marker=f"{DATA_DIR}/sky.dsk") / DATA_DIR


TITLES = ((re.compile(r"\bMrs\b\.?"), "Missus"), (re.compile(r"\bMr\b\.?"), "Mister"),
          (re.compile(r"\bDr\b\.?"), "Doctor"))
ACRONYM_RE = re.compile(r"\b(ID|I\.D|TV|HQ|St|ST|UK|USA|OK|IFPs?|LINC-?\w*\d)\b")


def _expand_titles(raw: str) -> str:
    """Mr/Mrs/Dr before a name, as said (the normaliser would keep them as the words mr/mrs/dr)."""
    for rx, word in TITLES:
        raw = rx.sub(word, raw)
    return raw


def _text_problem(raw: str, norm: str) -> str | None:
    if ACRONYM_RE.search(raw):
        return "acronym or abbreviation (ID, HQ, TV, St, IFPs)"
    if not re.search(r"[A-Za-z]", raw):
        return "no letters"
    why = text_problem(raw, norm, BABBLE)
    if why:
        return why
    words = norm.split()
    if any(len(w) > 1 and not re.search(r"[aeiouy]", w) for w in words):
        return "non-verbal (word without a vowel: mmf, mgh)"
    if all(w in INTERJECTIONS for w in words):
        return "only interjections"
    return None


def speech_items(disk: SkyDisk) -> tuple[list[dict], dict]:
    """Every English line that has a speech file: text number, speech file number, text, section."""
    codes = _tree_codes()
    items, skipped = [], {}
    mapped = set()
    for section in range(len(CONVERT)):
        if TEXT_FILE0 + section not in disk:
            continue
        for num, text in section_texts(disk, section, codes).items():
            fnum = speech_file_number(num)
            if (num & 0xFFF) >= (CONVERT[section + 1] - CONVERT[section] if section + 1 < len(CONVERT)
                                 else SECTION_LINES) or fnum not in disk:
                continue
            mapped.add(fnum)
            if not text.strip():
                skipped["empty text"] = skipped.get("empty text", 0) + 1
                continue
            items.append({"text_num": num, "file_num": fnum, "text": text, "section": section})
    skipped["speech files without a text line (intro)"] = sum(
        1 for n in disk.entries if SPEECH_FILE0 <= n < SPEECH_FILE0 + 10000 and n not in mapped)
    return items, skipped


def build_bass(out: Path, downloads: Path, tools: Path, verify_sample: int | None = 400) -> dict:
    """Extract the English speech to out/bass/<speaker>/<textnum>.flac, write out/bass_unverified.jsonl,
    then check labels (`verify_bass`) and write out/bass_verify.jsonl and out/bass.jsonl."""
    out = Path(out)
    disk = SkyDisk(fetch_package(Path(downloads)))
    normalize = get_normalizer()
    items, dropped = speech_items(disk)
    rows = []
    for it in tqdm(items, desc="bass", mininterval=10):
        norm = normalize(_expand_titles(it["text"]))
        why = _text_problem(it["text"], norm)
        if why:
            dropped[why] = dropped.get(why, 0) + 1
            continue
        speaker = f"bass_section{it['section']}"
        path = out / "bass" / speaker / f"{it['text_num']}.flac"
        if not path.exists():
            try:
                x = decode_speech(disk.load(it["file_num"]))
            except ValueError as exc:
                log.warning("speech file %d: %s", it["file_num"], exc)
                dropped["unpack error"] = dropped.get("unpack error", 0) + 1
                continue
            write_flac_16k(path, x, SAMPLE_RATE)
        dur = sf.info(str(path)).duration
        why = duration_problem(norm, dur)
        if why:
            dropped[why] = dropped.get(why, 0) + 1
            continue
        rows.append({"audio": str(path.resolve()), "text": norm, "duration": round(dur, 3),
                     "speaker": speaker, "corpus": "bass", "text_num": it["text_num"],
                     "source_file": it["file_num"], "source_text": it["text"], "section": it["section"]})
    write_jsonl_atomic(out / "bass_unverified.jsonl", rows)
    info = {"lines_with_speech": len(items), "unverified": len(rows),
            "unverified_hours": round(sum(r["duration"] for r in rows) / 3600, 3), "dropped": dropped}
    log.info("bass: %s", info)
    stats = {"manifest": str(out / "bass.jsonl"), **info, **verify_bass(out, Path(tools), sample=verify_sample)}
    log.info("bass verify: %s", stats)
    return stats


def verify_bass(out: Path, tools: Path, sample: int | None = 400, seed: int = 0) -> dict:
    """Decode a random sample of clips (None: all; resumable via out/bass_verify.jsonl) and write out/bass.jsonl.

    `sample` counts the clips of the large sections; sections with fewer than SMALL_GROUP clips are
    always decoded whole.

    A decoded clip is kept when its own line fits the decode better than chance; a section (speaker)
    whose decoded clips fit no better than chance on average, or pass less than half the time, is
    dropped whole; undecoded clips of the other sections are kept under that group rule.
    """
    rows = read_jsonl(out / "bass_unverified.jsonl")
    checker = LabelChecker((r["text"] for r in rows), tools, out / "bass_lm.arpa")
    checks = CheckLog(checker, rows, out / "bass_verify.jsonl", tag=lambda d, r: {**d, "speaker": r["speaker"]})
    decisions = checks.decisions
    group_of = {r["audio"]: r["speaker"] for r in rows}

    def flush() -> tuple[list[dict], set[str]]:
        checks.save()
        bad = group_rule(decisions, group_of)
        failed = {d["audio"] for d in decisions if not d["ok"]}
        kept = [r for r in rows if r["audio"] not in failed and r["speaker"] not in bad]
        write_jsonl_atomic(out / "bass.jsonl", kept)
        return kept, bad

    todo = [r for r in rows if r["audio"] not in checks.done]
    if sample is not None:
        # small sections (the last two hold 10 and 3 lines) are decoded whole: a sample would miss them
        size: dict[str, int] = {}
        for r in rows:
            size[r["speaker"]] = size.get(r["speaker"], 0) + 1
        small = [r for r in todo if size[r["speaker"]] < SMALL_GROUP]
        rest = [r for r in todo if size[r["speaker"]] >= SMALL_GROUP]
        n_big = sum(1 for a in checks.done if size.get(checks.by_audio[a]["speaker"], 0) >= SMALL_GROUP)
        todo = small + random.Random(seed).sample(rest, min(max(0, sample - n_big), len(rest)))
    kept, bad = checks.decode(todo, flush, "bass verify")
    per_speaker: dict[str, list[int]] = {}
    for d in decisions:
        s = per_speaker.setdefault(d["speaker"], [0, 0])
        s[0] += 1
        s[1] += d["ok"]
    return {"decoded": len(decisions), "passed": sum(d["ok"] for d in decisions),
            "pass_rate": round(sum(d["ok"] for d in decisions) / max(1, len(decisions)), 3),
            "pass_rate_by_speaker": {k: f"{v[1]}/{v[0]}" for k, v in sorted(per_speaker.items())},
            "dropped_speakers": sorted(bad), "kept": len(kept),
            "kept_decoded_and_passed": sum(1 for r in kept if r["audio"] in {d["audio"] for d in decisions}),
            "hours": round(sum(r["duration"] for r in kept) / 3600, 3),
            "speakers": len({r["speaker"] for r in kept})}
