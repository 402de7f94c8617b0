"""Evaluation-only real speech: the transcribed clips in the PocketSphinx source package's test data.

The issue reserves speech toolkits' test clips for evaluation, so this stage writes
`<out>/toolkit_test.jsonl` and nothing that training reads. Source: the `pocketsphinx` sdist on PyPI
(pinned below, fetched from the PyPI JSON API and checked against its sha256; the wheel holds no
audio), `test/data/`:

- `librivox/*.wav` + `librivox/transcription`: five sentences of *Sense and Sensibility* read by a
  LibriVox volunteer (public domain recording), 3-7 s each: read English from a speaker no model of
  ours has heard. The transcript keeps the reader's repetition ("a more a amiable woman").
- `cards/*.wav` + `cards/cards.transcription`: five short card names ("four queen of clubs").
- `goforward.raw` (16 kHz 16-bit mono PCM): "go forward ten meters", the text the PocketSphinx unit
  tests assert (test/unit/test_jsgf.c).

Clips without a published transcript (numbers.raw, something.raw, chan3, the forever/ and vad/
clips) are left out. PocketSphinx's own tests decode these clips, so its numbers on them are
flattered; they are still the only transcribed toolkit clips on the registries. License: the
PocketSphinx source is BSD-2-Clause (CMU); LibriVox recordings are in the public domain.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import tarfile
import urllib.request
from pathlib import Path

import numpy as np

from .normalize import get_normalizer, is_clean
from .util import write_flac_16k, write_jsonl_atomic

__all__ = ["build_toolkit", "read_transcription", "PACKAGE", "VERSION"]

log = logging.getLogger(__name__)
PACKAGE, VERSION = "pocketsphinx", "5.1.1"
_LINE = re.compile(r"^\s*(?:<s>)?(?P<text>.*?)(?:</s>)?\s*\((?P<id>[^()]+)\)\s*$")
GOFORWARD_TEXT = "go forward ten meters"


def read_transcription(text: str) -> dict[str, str]:
    """Sphinx transcription lines `<s> words </s> (file id)` -> {file id: words}."""
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"not a transcription line: {line!r}")
        out[m["id"].strip()] = " ".join(m["text"].split())
    return out


def _fetch_sdist(downloads: Path) -> Path:
    """The pinned sdist under downloads/: fetched once, kept only when its sha256 matches PyPI's record."""
    path = downloads / f"{PACKAGE}-{VERSION}.tar.gz"
    if path.exists():   # written (atomically) only after the check below
        return path
    meta = json.load(urllib.request.urlopen(f"https://pypi.org/pypi/{PACKAGE}/json", timeout=60))
    sdist = next((u for u in meta.get("releases", {}).get(VERSION, []) if u["packagetype"] == "sdist"), None)
    if sdist is None:
        raise RuntimeError(f"PyPI lists no sdist of {PACKAGE} {VERSION}")
    log.info("downloading %s", sdist["url"])
    data = urllib.request.urlopen(sdist["url"], timeout=300).read()
    if hashlib.sha256(data).hexdigest() != sdist["digests"]["sha256"]:
        raise RuntimeError(f"{sdist['filename']}: sha256 does not match PyPI's record")
    downloads.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def build_toolkit(out: Path, downloads: Path) -> dict:
    """Write out/toolkit/<speaker>/*.flac and out/toolkit_test.jsonl; returns a summary."""
    import soundfile as sf

    normalize = get_normalizer()
    sdist = _fetch_sdist(downloads)
    prefix = f"{PACKAGE}-{VERSION}/test/data/"
    with tarfile.open(sdist) as tar:
        files = {m.name[len(prefix):]: m for m in tar.getmembers() if m.isfile() and m.name.startswith(prefix)}

        def read(name: str) -> bytes:
            return tar.extractfile(files[name]).read()

        items = []   # (corpus, speaker, clip id, text, samples, rate)
        for corpus, folder, listing in (("librivox", "librivox", "librivox/transcription"),
                                        ("ps_cards", "cards", "cards/cards.transcription")):
            for clip, text in sorted(read_transcription(read(listing).decode("utf-8")).items()):
                x, sr = sf.read(io.BytesIO(read(f"{folder}/{clip}.wav")), dtype="float32")
                items.append((corpus, f"{corpus}_0", clip, text, x, sr))
        pcm = np.frombuffer(read("goforward.raw"), dtype="<i2").astype(np.float32) / 32768.0
        items.append(("ps_goforward", "ps_goforward_0", "goforward", GOFORWARD_TEXT, pcm, 16000))

    rows = []
    for corpus, speaker, clip, text, x, sr in items:
        norm = normalize(text)
        if not is_clean(norm):
            raise ValueError(f"{clip}: transcript {text!r} does not normalise to the alphabet ({norm!r})")
        path = out / "toolkit" / speaker / f"{clip}.flac"
        y = write_flac_16k(path, x if x.ndim == 1 else x.mean(axis=1), sr)
        rows.append({"audio": str(path.resolve()), "text": norm, "duration": round(len(y) / 16000, 3),
                     "speaker": speaker, "corpus": corpus, "source": f"{sdist.name}:test/data"})
    write_jsonl_atomic(out / "toolkit_test.jsonl", rows)
    summary = {"utterances": len(rows), "seconds": round(sum(r["duration"] for r in rows), 1),
               "corpora": sorted({r["corpus"] for r in rows}), "source": sdist.name}
    log.info("toolkit_test: %s", summary)
    return summary
