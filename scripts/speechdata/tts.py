"""Offline TTS voices (espeak-ng, flite, festival), one clip per prompt, with output checks.

A voice is `engine/name`; the clip's speaker field is that voice. Voice families listed in
HELD_OUT never appear in training: they make the synthetic test set (unseen voices).
"""
from __future__ import annotations

import importlib
import logging
import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

__all__ = ["Voice", "VoiceSpec", "available_voices", "pick_voice", "synthesize", "ClipCheck", "check_clip",
           "ENGINE_PACKAGES", "is_held_out", "SAMPLE_RATE"]

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000

# executable -> Debian package
ENGINE_PACKAGES = {"espeak-ng": "espeak-ng", "flite": "flite", "text2wave": "festival"}
# engines whose code lives in another module with the same interface: available_voices(engines) ->
# {engine: [names]}, is_held_out(engine, name), pick_voice(engine, name, rng) -> Voice,
# synthesize(voice, text, tmpdir) -> (float32 audio, sample rate)
EXTRA_ENGINE_MODULES = {"rhvoice": "tts_debian_extra", "pico": "tts_debian_extra", "mbrola": "tts_debian_extra"}
EXTRA_ENGINE_MODULES.update({"piper": "tts_neural", "kokoro": "tts_neural"})  # neural (onnxruntime), see tts_neural
FESTIVAL_VOICE_PACKAGES = {"kal_diphone": "festvox-kallpc16k", "ked_diphone": "festvox-kdlpc16k",
                           "cmu_us_slt_arctic_hts": "festvox-us-slt-hts"}

ESPEAK_ACCENTS = ["en", "en-us", "en-gb-x-rp", "en-029", "en-gb-scotland", "en-gb-x-gbclan", "en-us-nyc",
                  "en-gb-x-gbcwmd"]
# espeak-ng variants: formant voices m1..m8/f1..f5, klatt synthesiser, and the human-named community
# variants that still sound like speech (robot/demonic/tweaky novelty variants are left out).
ESPEAK_VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt",
                   "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "croak", "whisper", "whisperf", "adam", "Alex",
                   "Alicia", "Andy", "Annie", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed",
                   "edward", "grandma", "grandpa", "iven", "iven2", "john", "linda", "Mike", "max", "michel",
                   "norbert", "paul", "quincy", "rob", "robert", "steph", "steph2", "travis", "victor", "zac",
                   "Lee", "Hugo", "Jacky", "Gene", "Storm", "shelby", "announcer"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]      # awb_time is awb again; left out
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]

# Held-out families (synthetic test only): the SLT speaker in every engine, the espeak West Midlands
# accent with all its variants, and the espeak f3 variant with every accent.
HELD_OUT_DESC = ["flite/slt", "festival/cmu_us_slt_arctic_hts", "espeak-ng/en-gb-x-gbcwmd+*", "espeak-ng/*+f3"]


def _engine_module(engine: str):
    mod = EXTRA_ENGINE_MODULES.get(engine)
    return importlib.import_module(f"{__package__}.{mod}") if mod else None


def is_held_out(engine: str, name: str) -> bool:
    if engine in EXTRA_ENGINE_MODULES:
        return _engine_module(engine).is_held_out(engine, name)
    if engine in ("flite", "festival") and "slt" in name:
        return True
    if engine == "espeak-ng":
        accent, _, variant = name.partition("+")
        return accent == "en-gb-x-gbcwmd" or variant == "f3"
    return False


@dataclass(frozen=True)
class Voice:
    """One synthesis setting for one clip."""
    engine: str          # espeak-ng | flite | festival
    name: str            # voice name inside the engine (espeak: accent+variant)
    rate: float          # espeak: words per minute; flite/festival: duration stretch (1.0 = default)
    pitch: float         # espeak: 0-99 pitch; flite: f0 target mean in Hz (0 = default); festival: unused
    gap: int = 0         # espeak: extra word gap in 10 ms units

    @property
    def label(self) -> str:
        return f"{self.engine}/{self.name}"

    @property
    def held_out(self) -> bool:
        return is_held_out(self.engine, self.name)


@dataclass
class VoiceSpec:
    """Which engines and voices exist on this machine, and how often each engine is used."""
    espeak: list[str] = field(default_factory=list)      # accent+variant names
    flite: list[str] = field(default_factory=list)
    festival: list[str] = field(default_factory=list)
    extra: dict[str, list[str]] = field(default_factory=dict)  # engines of EXTRA_ENGINE_MODULES -> voice names
    engine_weights: dict[str, float] = field(default_factory=lambda: {"espeak-ng": 0.62, "flite": 0.25, "festival": 0.13})
    test_share: float = 0.06                               # chance that a clip uses a held-out voice

    def train_voices(self) -> list[str]:
        return sorted({f"espeak-ng/{v}" for v in self.espeak if not is_held_out("espeak-ng", v)}
                      | {f"flite/{v}" for v in self.flite if not is_held_out("flite", v)}
                      | {f"festival/{v}" for v in self.festival if not is_held_out("festival", v)}
                      | {f"{e}/{v}" for e, names in self.extra.items() for v in names if not is_held_out(e, v)})


def _espeak_variants() -> list[str]:
    try:
        out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    files = {line.split()[-1].split("/")[-1] for line in out.splitlines()[1:] if line.strip()}
    return [v for v in ESPEAK_VARIANTS if v == "" or v in files]


def _flite_voices() -> list[str]:
    try:
        out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    have = set(out.split(":", 1)[-1].split())
    return [v for v in FLITE_VOICES if v in have]


def _festival_voices() -> list[str]:
    roots = [Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices")]
    have = {p.name for r in roots if r.exists() for p in r.glob("*/*") if p.is_dir()}
    return [v for v in FESTIVAL_VOICES if v in have] if shutil.which("text2wave") else []


def available_voices(engines: list[str]) -> VoiceSpec:
    spec = VoiceSpec()
    if "espeak-ng" in engines and shutil.which("espeak-ng"):
        variants = _espeak_variants()
        spec.espeak = [a + (f"+{v}" if v else "") for a in ESPEAK_ACCENTS for v in variants]
    if "flite" in engines and shutil.which("flite"):
        spec.flite = _flite_voices()
    if "festival" in engines:
        spec.festival = _festival_voices()
    for mod in sorted({m for e, m in EXTRA_ENGINE_MODULES.items() if e in engines}):
        spec.extra.update(importlib.import_module(f"{__package__}.{mod}").available_voices(engines))
    return spec


def pick_voice(spec: VoiceSpec, rng: random.Random) -> Voice:
    """A random voice and prosody for one clip (held-out voices with probability spec.test_share)."""
    want_test = rng.random() < spec.test_share
    pools = {"espeak-ng": spec.espeak, "flite": spec.flite, "festival": spec.festival, **spec.extra}
    engines = [e for e, names in pools.items() if any(is_held_out(e, n) == want_test for n in names)]
    weights = [spec.engine_weights.get(e, 0.1) for e in engines]
    engine = rng.choices(engines, weights)[0]
    name = rng.choice([n for n in pools[engine] if is_held_out(engine, n) == want_test])
    if engine in EXTRA_ENGINE_MODULES:
        return _engine_module(engine).pick_voice(engine, name, rng)
    if engine == "espeak-ng":
        return Voice(engine, name, rate=rng.randint(130, 200), pitch=rng.randint(30, 70),
                     gap=rng.choice([0, 0, 0, 0, 1, 2, 4]))
    if engine == "flite":
        f0 = 0 if rng.random() < 0.5 else rng.randint(85, 125) if name in ("awb", "rms", "kal", "kal16") else rng.randint(150, 210)
        return Voice(engine, name, rate=round(rng.uniform(0.8, 1.3), 2), pitch=f0)
    return Voice(engine, name, rate=round(rng.uniform(0.85, 1.25), 2), pitch=0)


def _run(cmd: list[str], text_in: str | None = None, timeout: float = 60) -> None:
    subprocess.run(cmd, input=text_in, text=True, capture_output=True, check=True, timeout=timeout)


def synthesize(voice: Voice, text: str, tmpdir: Path) -> tuple[np.ndarray, int]:
    """Raw engine output as float32 mono and its sample rate."""
    if voice.engine in EXTRA_ENGINE_MODULES:
        return _engine_module(voice.engine).synthesize(voice, text, tmpdir)
    fd, wav = tempfile.mkstemp(suffix=".wav", dir=tmpdir)
    os.close(fd)
    try:
        if voice.engine == "espeak-ng":
            _run(["espeak-ng", "-v", voice.name, "-s", str(int(voice.rate)), "-p", str(int(voice.pitch)),
                  "-g", str(voice.gap), "-w", wav], text_in=text)
        elif voice.engine == "flite":
            cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={voice.rate}"]
            if voice.pitch:
                cmd += ["--setf", f"int_f0_target_mean={int(voice.pitch)}"]
            txt = Path(wav).with_suffix(".txt")
            txt.write_text(text + "\n", encoding="utf-8")
            try:
                _run(cmd + ["-f", str(txt), "-o", wav])
            finally:
                txt.unlink(missing_ok=True)
        elif voice.engine == "festival":
            txt = Path(wav).with_suffix(".txt")
            txt.write_text(text + "\n", encoding="utf-8")
            try:
                _run(["text2wave", "-eval", f"(voice_{voice.name})",
                      "-eval", f"(Parameter.set 'Duration_Stretch {voice.rate})", "-o", wav, str(txt)])
            finally:
                txt.unlink(missing_ok=True)
        else:
            raise ValueError(f"unknown engine {voice.engine!r}; valid: espeak-ng, flite, festival")
        data, sr = sf.read(wav, dtype="float32", always_2d=True)
        return data.mean(axis=1), sr
    finally:
        os.unlink(wav)


def to_16k(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SAMPLE_RATE:
        return x.astype(np.float32)
    f = Fraction(SAMPLE_RATE, sr).limit_denominator(1000)
    return resample_poly(x, f.numerator, f.denominator).astype(np.float32)


def trim(x: np.ndarray, rng: random.Random, frame: int = 320, rel_db: float = -40.0) -> np.ndarray:
    """Cut leading/trailing silence (frames 40 dB below the loudest), keeping 0.05-0.3 s of padding."""
    n = len(x) // frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    thr = max(rms.max() * 10 ** (rel_db / 20), 1e-4)
    active = np.nonzero(rms > thr)[0]
    if len(active) == 0:
        return x[:0]
    start = max(0, active[0] * frame - int(rng.uniform(0.05, 0.3) * SAMPLE_RATE))
    end = min(len(x), (active[-1] + 1) * frame + int(rng.uniform(0.05, 0.3) * SAMPLE_RATE))
    return x[start:end]


@dataclass
class ClipCheck:
    ok: bool
    reason: str
    duration: float


def check_clip(raw: np.ndarray, x16: np.ndarray, text: str) -> ClipCheck:
    """Non-empty, not clipped, audible, and a duration that fits the number of letters."""
    dur = len(x16) / SAMPLE_RATE
    letters = sum(c.isalpha() for c in text)
    if len(raw) == 0 or len(x16) == 0:
        return ClipCheck(False, "empty", dur)
    if not np.isfinite(raw).all():
        return ClipCheck(False, "nan", dur)
    clipped = float(np.mean(np.abs(raw) >= 0.999))
    if clipped > 0.001:
        return ClipCheck(False, f"clipped {clipped:.4f}", dur)
    if float(np.sqrt(np.mean(x16 ** 2))) < 1e-3:
        return ClipCheck(False, "silent", dur)
    lo, hi = 0.15 + letters / 30.0, 0.9 + letters / 3.5
    if not lo <= dur <= hi:
        return ClipCheck(False, f"duration {dur:.2f}s for {letters} letters (allowed {lo:.2f}-{hi:.2f})", dur)
    if dur > 20:
        return ClipCheck(False, "longer than 20 s", dur)
    return ClipCheck(True, "ok", dur)
