"""Training-time augmentation: waveform degradations and SpecAugment.

Every transform takes its randomness from an explicit ``numpy.random.Generator`` so
that a given seed always produces the same output (the dataset derives one generator
per (seed, epoch, item)). Waveform transforms take and return float32 1-D numpy arrays
at 16 kHz; all of them keep the length except speed perturbation, which changes the
duration by design, and room-tone padding, which adds pauses around the speech. ``spec_augment`` works on a (T, F) feature tensor.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
from scipy import signal

from .features import FeatureConfig

__all__ = [
    "AugmentConfig",
    "Augmenter",
    "LengthPlan",
    "pad_room_tone",
    "speed_perturb",
    "pitch_shift",
    "apply_gain",
    "coloured_noise",
    "add_noise",
    "synthetic_rir",
    "reverberate",
    "telephone_band",
    "codec_degrade",
    "spec_augment",
    "channel_curve",
    "NOISE_COLOURS",
]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
NOISE_COLOURS = ("white", "pink", "brown", "blue", "babble_like")


@dataclass
class AugmentConfig:
    """Probabilities and ranges of every augmentation (probability 0 turns one off)."""

    # Room tone around the speech. Many clips (TTS, game and prompt recordings) start and stop within a
    # few milliseconds of the speech; a one-way LSTM trained on them learns to emit a guess at the first
    # letter on the first frames, before it can have heard it, and so loses the real first sound of
    # utterances that start after a pause (every live microphone stream). Padding teaches it to wait.
    pad_prob: float = 0.5  # chance of padding an utterance
    pad_seconds: tuple[float, float] = (0.0, 0.6)  # leading and trailing pad lengths, each drawn in this range
    # Speed perturbation (Kaldi style: resampling changes tempo and pitch together).
    speed_prob: float = 0.6  # chance of perturbing the speed of an utterance
    speeds: tuple[float, ...] = (0.9, 1.1)  # factors drawn uniformly when perturbing (>1 is faster)
    # Pitch shift at constant duration (phase vocoder; slower, so keep the probability low).
    pitch_prob: float = 0.0  # chance of shifting the pitch
    pitch_semitones: float = 2.0  # largest shift up or down, in semitones
    # Gain.
    gain_prob: float = 0.5  # chance of changing the level
    gain_db: tuple[float, float] = (-15.0, 6.0)  # range of the gain in dB (louder audio is clipped at +-1)
    # Additive noise.
    noise_prob: float = 0.4  # chance of adding noise
    snr_db: tuple[float, float] = (5.0, 30.0)  # signal-to-noise ratio range in dB
    noise_colours: tuple[str, ...] = ("white", "pink", "brown", "blue", "babble_like")  # generated noise kinds
    noise_files: tuple[str, ...] = ()  # optional recorded noise files (any format load_audio reads), mixed in too
    noise_file_prob: float = 0.5  # when noise files are given, chance of using one instead of generated noise
    # Room reverberation with synthetic exponentially decaying impulse responses.
    reverb_prob: float = 0.2  # chance of reverberating
    rt60: tuple[float, float] = (0.15, 0.8)  # reverberation time range in seconds
    reverb_wet: tuple[float, float] = (0.3, 1.0)  # range of the reverberant tail level relative to the direct path
    # Telephone channel: downsample to 8 kHz and back, band-pass 300-3400 Hz.
    telephone_prob: float = 0.2  # chance of the telephone channel
    # Codec-like degradation: mu-law quantisation or a low bit depth.
    codec_prob: float = 0.1  # chance of codec-like quantisation
    codec_bits: tuple[int, int] = (6, 10)  # bit depth range for plain quantisation (mu-law always uses 8 bits)
    # Vocal tract length perturbation (Jaitly & Hinton 2013) on the log-mel features: the frequency axis
    # is stretched by a factor alpha below a cutoff (piecewise linear, so the band edge stays put). It
    # moves formants as a longer or shorter vocal tract would, without touching pitch or tempo: speaker
    # variety that speed perturbation (formants and pitch together) does not give.
    warp_prob: float = 0.0  # chance of warping an utterance's features
    warp_factors: tuple[float, float] = (0.9, 1.1)  # alpha is drawn uniformly in this range
    # Microphone / channel colouring on the log-mel features: each utterance gets a smooth random gain
    # curve across the mel bands (a spectral tilt plus a few broad bumps and dips), as different
    # microphones, rooms and sound cards give. Telephone band and codec cover narrow channels; this covers
    # the gentler colouring of ordinary full-band microphones, which training data from a few studios lacks.
    eq_prob: float = 0.0  # chance of colouring an utterance
    eq_db: float = 6.0  # largest tilt (band edge vs centre) and largest bump, in dB
    # SpecAugment on the log-mel features.
    spec_prob: float = 0.8  # chance of applying SpecAugment to an utterance
    freq_masks: int = 2  # number of frequency masks
    freq_mask_width: int = 12  # largest frequency mask width in mel bins
    time_masks: int = 2  # number of time masks (at most; short utterances get fewer)
    time_mask_width: int = 30  # largest time mask width in feature frames (10 ms each)
    time_mask_max_fraction: float = 0.15  # a single time mask covers at most this fraction of the utterance

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.endswith("_prob"):
                p = getattr(self, f.name)
                if not 0.0 <= float(p) <= 1.0:
                    raise ValueError(f"AugmentConfig.{f.name}={p!r} must be a probability in [0, 1]")
        bad = [c for c in self.noise_colours if c not in NOISE_COLOURS]
        if bad:
            raise ValueError(f"unknown noise colours {bad}; valid choices: {list(NOISE_COLOURS)}")
        if self.noise_prob > 0 and not self.noise_colours and not self.noise_files:
            raise ValueError("noise_prob > 0 needs noise_colours or noise_files")
        if any(s <= 0 for s in self.speeds):
            raise ValueError(f"speeds must be positive, got {self.speeds}")
        if any(v < 0 for v in self.pad_seconds):
            raise ValueError(f"AugmentConfig.pad_seconds={self.pad_seconds!r} must not be negative")
        if not 0.0 <= self.eq_db <= 30.0:
            raise ValueError(f"AugmentConfig.eq_db={self.eq_db!r} must be in [0, 30] dB")
        if len(self.warp_factors) != 2 or not all(0.5 <= a <= 2.0 for a in self.warp_factors):
            raise ValueError(f"AugmentConfig.warp_factors={self.warp_factors!r} must be two factors in [0.5, 2]")
        for name in ("pad_seconds", "gain_db", "snr_db", "rt60", "reverb_wet", "codec_bits", "warp_factors"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"AugmentConfig.{name}={getattr(self, name)!r}: low end above high end")
        # tuples survive a round trip through JSON / checkpoints as lists
        for name in ("pad_seconds", "speeds", "gain_db", "snr_db", "noise_colours", "noise_files", "rt60", "reverb_wet",
                     "codec_bits", "warp_factors"):
            setattr(self, name, tuple(getattr(self, name)))

    @classmethod
    def off(cls) -> "AugmentConfig":
        """A configuration that changes nothing."""
        return cls(pad_prob=0, speed_prob=0, pitch_prob=0, gain_prob=0, noise_prob=0, reverb_prob=0,
                   telephone_prob=0, codec_prob=0, warp_prob=0, eq_prob=0, spec_prob=0)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict | None) -> "AugmentConfig":
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown AugmentConfig fields {unknown}; valid fields: {sorted(names)}")
        return cls(**d)


# ----------------------------------------------------------------------------- waveform transforms


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) >= n:
        return x[:n]
    return np.pad(x, (0, n - len(x)))


def pad_room_tone(x: np.ndarray, lead: int, trail: int, rng: np.random.Generator) -> np.ndarray:
    """Add ``lead`` samples before and ``trail`` after ``x`` of quiet noise at the clip's own floor.

    The level is that of the clip's quietest 10 ms frames (5th percentile RMS, never below -80 dBFS), so
    the pad sounds like the pauses already in the recording rather than like digital silence.
    """
    if lead < 0 or trail < 0:
        raise ValueError(f"pad lengths must not be negative, got {lead}, {trail}")
    x = _f32(x)
    if lead + trail == 0 or len(x) == 0:
        return x
    frames = x[: len(x) // 160 * 160].reshape(-1, 160) if len(x) >= 160 else x.reshape(1, -1)
    floor = max(float(np.percentile(np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)), 5)), 1e-4)
    noise = (floor * rng.standard_normal(lead + trail)).astype(np.float32)
    return _f32(np.concatenate([noise[:lead], x, noise[lead:]]))


def speed_perturb(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (resampling; pitch moves with tempo). Length becomes len/factor."""
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    if abs(factor - 1.0) < 1e-6 or len(x) == 0:
        return _f32(x)
    frac = _ratio(factor)
    up, down = frac  # new length = len * up / down = len / factor
    return _f32(signal.resample_poly(x, up, down))


@lru_cache(maxsize=64)
def _ratio(factor: float) -> tuple[int, int]:
    from fractions import Fraction

    f = Fraction(1.0 / factor).limit_denominator(100)
    return f.numerator, f.denominator


def pitch_shift(x: np.ndarray, semitones: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping the duration: resample (pitch and tempo move), then a phase-vocoder
    time stretch (librosa) restores the tempo."""
    if abs(semitones) < 1e-3 or len(x) < 2048:
        return _f32(x)
    import librosa

    factor = 2.0 ** (semitones / 12.0)
    y = speed_perturb(x, factor)  # pitch * factor, length / factor
    y = librosa.effects.time_stretch(y, rate=len(y) / len(x))
    return _f32(_fit_length(y, len(x)))


def apply_gain(x: np.ndarray, gain_db: float) -> np.ndarray:
    """Scale by ``gain_db`` decibels and clip to [-1, 1] (like a real overdriven input)."""
    return _f32(np.clip(x * (10.0 ** (gain_db / 20.0)), -1.0, 1.0))


def coloured_noise(n: int, colour: str, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``n`` samples of unit-RMS noise of a given colour (spectral shaping of white noise)."""
    if colour not in NOISE_COLOURS:
        raise ValueError(f"unknown noise colour {colour!r}; valid choices: {list(NOISE_COLOURS)}")
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    white = rng.standard_normal(n)
    if colour == "white":
        y = white
    elif colour == "babble_like":
        # speech-shaped, amplitude-modulated noise: low-passed around 500 Hz-2 kHz with syllabic (4 Hz) modulation
        sos = signal.butter(2, [200, 3000], btype="bandpass", fs=sample_rate, output="sos")
        y = signal.sosfilt(sos, white)
        t = np.arange(n) / sample_rate
        mod = np.ones(n)
        for _ in range(3):
            rate = rng.uniform(2.0, 6.0)
            mod += 0.6 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
        y = y * np.clip(mod, 0.05, None)
    else:
        # shaped over a length the FFT is fast for (an arbitrary length may be a large prime), then cut:
        # the same stationary noise, whatever the clip's length
        from scipy import fft

        m = fft.next_fast_len(n, real=True)
        if m > n:
            white = np.concatenate([white, rng.standard_normal(m - n)])
        spec = fft.rfft(white)
        freqs = np.fft.rfftfreq(m, d=1.0 / sample_rate)
        freqs[0] = freqs[1] if len(freqs) > 1 else 1.0
        exponent = {"pink": -0.5, "brown": -1.0, "blue": 0.5}[colour]
        spec = spec * freqs ** exponent
        y = fft.irfft(spec, n=m)[:n]
    rms = np.sqrt(np.mean(y ** 2)) + 1e-12
    return _f32(y / rms)


def _active_power(x: np.ndarray) -> float:
    """Mean power of the louder half of 20 ms frames (so silence padding does not lower the SNR reference)."""
    frame = 320
    n = len(x) // frame
    if n < 2:
        return float(np.mean(x.astype(np.float64) ** 2))
    p = np.mean(x[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1)
    p.sort()
    return float(np.mean(p[n // 2:]))


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix ``noise`` (looped or cropped to the length of ``x``) at ``snr_db`` relative to the active speech power."""
    if len(x) == 0:
        return _f32(x)
    if len(noise) == 0:
        raise ValueError("noise is empty")
    if len(noise) < len(x):
        noise = np.tile(noise, int(np.ceil(len(x) / len(noise))))
    noise = noise[: len(x)].astype(np.float64)
    ps = _active_power(x)
    pn = float(np.mean(noise ** 2)) + 1e-12
    if ps <= 1e-10:  # silent input: add a faint noise floor instead
        ps = 1e-6
    scale = np.sqrt(ps / (pn * 10.0 ** (snr_db / 10.0)))
    return _f32(np.clip(x + scale * noise, -1.0, 1.0))


def synthetic_rir(rt60: float, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE, wet: float = 1.0) -> np.ndarray:
    """A room impulse response: a direct path, a few early reflections and an exponentially decaying noise tail.

    The tail energy falls by 60 dB after ``rt60`` seconds.
    """
    if rt60 <= 0:
        raise ValueError(f"rt60 must be positive, got {rt60}")
    n = max(int(rt60 * sample_rate), 16)
    t = np.arange(n) / sample_rate
    decay = np.exp(-6.9078 * t / rt60)  # 10**(-3) amplitude ... 60 dB energy at rt60
    tail = rng.standard_normal(n) * decay
    pre_delay = int(rng.uniform(0.002, 0.015) * sample_rate)
    tail[:pre_delay] = 0.0
    tail *= wet / (np.sqrt(np.sum(tail ** 2)) + 1e-12)
    h = tail
    for _ in range(int(rng.integers(2, 6))):  # early reflections
        d = int(rng.uniform(0.001, 0.03) * sample_rate)
        if d < n:
            h[d] += rng.uniform(-0.5, 0.5)
    h[0] = 1.0
    return _f32(h)


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with ``rir`` (same length out, RMS restored to the input's)."""
    if len(x) == 0:
        return _f32(x)
    y = signal.fftconvolve(x.astype(np.float64), rir.astype(np.float64))[: len(x)]
    rin = np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12
    rout = np.sqrt(np.mean(y ** 2)) + 1e-12
    return _f32(np.clip(y * (rin / rout), -1.0, 1.0))


@lru_cache(maxsize=4)
def _telephone_sos(sample_rate: int) -> np.ndarray:
    return signal.butter(4, [300.0, 3400.0], btype="bandpass", fs=sample_rate, output="sos")


def telephone_band(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Telephone channel: resample to 8 kHz and back, then band-pass 300-3400 Hz."""
    if len(x) < 32:
        return _f32(x)
    if sample_rate % 8000 == 0 and sample_rate > 8000:
        k = sample_rate // 8000
        y = signal.resample_poly(signal.resample_poly(x, 1, k), k, 1)
    else:
        y = signal.resample_poly(signal.resample_poly(x, 8000, sample_rate), sample_rate, 8000)
    y = signal.sosfilt(_telephone_sos(sample_rate), _fit_length(y, len(x)))
    return _f32(np.clip(y, -1.0, 1.0))


def codec_degrade(x: np.ndarray, mode: str = "mulaw", bits: int = 8) -> np.ndarray:
    """Quantise like a cheap codec: ``mode`` "mulaw" (8-bit G.711 style) or "linear" at ``bits`` bits."""
    x = np.clip(x.astype(np.float64), -1.0, 1.0)
    if mode == "mulaw":
        mu = 255.0
        y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
        y = np.round((y + 1) / 2 * mu) / mu * 2 - 1
        out = np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu
    elif mode == "linear":
        if not 2 <= bits <= 16:
            raise ValueError(f"bits must be in 2..16, got {bits}")
        levels = 2 ** (bits - 1)
        out = np.round(x * levels) / levels
    else:
        raise ValueError(f"unknown codec mode {mode!r}; valid choices: ['mulaw', 'linear']")
    return _f32(np.clip(out, -1.0, 1.0))


# ----------------------------------------------------------------------------- features


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def vtlp_warp(feats: torch.Tensor, alpha: float, f_min: float = FeatureConfig.f_min, f_max: float = FeatureConfig.f_max,
              cutoff: float = 4800.0) -> torch.Tensor:
    """Vocal tract length perturbation of (T, F) HTK log-mel features spanning [f_min, f_max] Hz.

    Frequencies f map to alpha * f up to b = cutoff * min(alpha, 1) / alpha and linearly from there to
    f_max, which stays in place; each output band takes the linearly interpolated value of the band
    that maps onto it. alpha > 1 raises the formants (a shorter vocal tract). Returns a new tensor.
    """
    if feats.dim() != 2:
        raise ValueError(f"vtlp_warp expects (T, F) features, got shape {tuple(feats.shape)}")
    if not 0.5 <= alpha <= 2.0:
        raise ValueError(f"vtlp_warp alpha must be in [0.5, 2], got {alpha!r}")
    if not 0 <= f_min < cutoff < f_max:
        raise ValueError(f"vtlp_warp needs 0 <= f_min < cutoff < f_max, got {f_min}, {cutoff}, {f_max}")
    n = feats.shape[1]
    mel_points = np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n + 2)[1:-1]  # band centres (HTK, as torchaudio)
    centres = _mel_to_hz(mel_points)
    b = cutoff * min(alpha, 1.0) / alpha
    # inverse of the warp: which input frequency lands on each output centre
    source = np.where(centres <= alpha * b, centres / alpha,
                      b + (centres - alpha * b) * (f_max - b) / (f_max - alpha * b))
    pos = np.interp(_hz_to_mel(source), mel_points, np.arange(n, dtype=np.float64))  # clamps at the edges
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = torch.as_tensor(pos - lo, dtype=feats.dtype)
    return feats[:, lo] * (1 - frac) + feats[:, hi] * frac


def channel_curve(n_bands: int, max_db: float, rng: np.random.Generator) -> torch.Tensor:
    """A smooth random gain curve over `n_bands` mel bands, as natural-log power offsets (n_bands,).

    A linear tilt of up to +-max_db between the band edges plus 1-3 Gaussian bumps or dips of up to
    max_db, each 4-20 bands wide: the colouring of a microphone and room, not a narrow filter.
    """
    bands = np.arange(n_bands, dtype=np.float64)
    db = rng.uniform(-max_db, max_db) * (bands / max(n_bands - 1, 1) - 0.5) * 2
    for _ in range(int(rng.integers(1, 4))):
        centre, width = rng.uniform(0, n_bands - 1), rng.uniform(4, 20)
        db += rng.uniform(-max_db, max_db) * np.exp(-0.5 * ((bands - centre) / width) ** 2)
    return torch.from_numpy(db * (np.log(10.0) / 10.0)).float()  # dB of power -> natural log


def spec_augment(feats: torch.Tensor, rng: np.random.Generator, freq_masks: int = 2, freq_mask_width: int = 12,
                 time_masks: int = 2, time_mask_width: int = 30, max_fraction: float = 0.15,
                 fill: float | None = None) -> torch.Tensor:
    """SpecAugment masks on a (T, F) feature tensor; masked cells get ``fill`` (default: the utterance mean).

    Returns a new tensor; the input is not modified.
    """
    if feats.dim() != 2:
        raise ValueError(f"spec_augment expects (T, F) features, got shape {tuple(feats.shape)}")
    out = feats.clone()
    t, f = out.shape
    if t == 0:
        return out
    value = float(out.mean()) if fill is None else float(fill)
    for _ in range(freq_masks):
        w = int(rng.integers(0, min(freq_mask_width, f) + 1))
        if w:
            f0 = int(rng.integers(0, f - w + 1))
            out[:, f0:f0 + w] = value
    max_w = min(time_mask_width, int(max_fraction * t))
    for _ in range(time_masks):
        if max_w < 1:
            break
        w = int(rng.integers(0, max_w + 1))
        if w:
            t0 = int(rng.integers(0, t - w + 1))
            out[t0:t0 + w, :] = value
    return out


# ----------------------------------------------------------------------------- the composed pipeline


@dataclass(frozen=True)
class LengthPlan:
    """The length-changing augmentation of one utterance (see :meth:`Augmenter.plan`)."""

    lead: int = 0  # room-tone samples added before the speech
    trail: int = 0  # room-tone samples added after it
    speed: float = 1.0  # speed factor (1.0 = unchanged)


class Augmenter:
    """Applies an :class:`AugmentConfig` to waveforms and features with a caller-supplied generator.

    ``Augmenter(cfg)(samples, rng)`` -> augmented float32 samples; ``.features(feats, rng)`` -> warped,
    channel-coloured and SpecAugmented features. Order of waveform steps: room-tone padding, speed, pitch, reverberation, noise,
    telephone, codec, gain. `mel_range` is the (f_min, f_max) in Hz of the features' mel bands (for the warp).
    """

    def __init__(self, config: AugmentConfig | None = None, sample_rate: int = SAMPLE_RATE,
                 mel_range: tuple[float, float] = (FeatureConfig.f_min, FeatureConfig.f_max)):
        self.config = config or AugmentConfig()
        self.sample_rate = sample_rate
        self.f_min, self.f_max = (float(v) for v in mel_range)
        self._noises: list[np.ndarray] | None = None

    def _noise_bank(self) -> list[np.ndarray]:
        if self._noises is None:
            from speech.audio import load_audio

            self._noises = []
            for p in self.config.noise_files:
                try:
                    a = load_audio(p)
                except (OSError, ValueError) as e:  # a bad noise file should not stop training
                    logger.warning("skipping noise file %s: %s", p, e)
                    continue
                if len(a) > 0:
                    self._noises.append(a)
        return self._noises

    def plan(self, rng: np.random.Generator) -> LengthPlan:
        """Draw the steps that change an utterance's length (room-tone padding, speed).

        Kept apart from the other draws so that a sampler can know every augmented length before any
        audio is loaded (:meth:`output_length`) and batch utterances of equal augmented length."""
        c = self.config
        lead = trail = 0
        if c.pad_prob and rng.random() < c.pad_prob:
            lead, trail = (int(rng.uniform(*c.pad_seconds) * self.sample_rate) for _ in range(2))
        speed = 1.0
        if c.speed_prob and rng.random() < c.speed_prob and c.speeds:
            speed = float(rng.choice(c.speeds))
        return LengthPlan(lead, trail, speed)

    @staticmethod
    def output_length(n_samples: int, plan: LengthPlan) -> int:
        """Samples that ``__call__`` returns for ``n_samples`` input samples under ``plan``."""
        if n_samples <= 0:
            return 0
        n = n_samples + plan.lead + plan.trail
        if abs(plan.speed - 1.0) >= 1e-6:
            up, down = _ratio(plan.speed)
            n = -(-n * up // down)  # resample_poly gives ceil(n * up / down) samples
        return n

    def __call__(self, x: np.ndarray, rng: np.random.Generator, plan: LengthPlan | None = None) -> np.ndarray:
        """Augmented copy of ``x``. ``plan`` (from :meth:`plan`) fixes the length-changing steps; without
        it they are drawn from ``rng`` first."""
        c = self.config
        x = _f32(x)
        if len(x) == 0:
            return x
        if plan is None:
            plan = self.plan(rng)
        if plan.lead or plan.trail:
            x = pad_room_tone(x, plan.lead, plan.trail, rng)
        if abs(plan.speed - 1.0) >= 1e-6:
            x = speed_perturb(x, plan.speed)
        if c.pitch_prob and rng.random() < c.pitch_prob:
            x = pitch_shift(x, float(rng.uniform(-c.pitch_semitones, c.pitch_semitones)), self.sample_rate)
        if c.reverb_prob and rng.random() < c.reverb_prob:
            rir = synthetic_rir(float(rng.uniform(*c.rt60)), rng, self.sample_rate, wet=float(rng.uniform(*c.reverb_wet)))
            x = reverberate(x, rir)
        if c.noise_prob and rng.random() < c.noise_prob:
            bank = self._noise_bank() if c.noise_files else []
            if bank and (not c.noise_colours or rng.random() < c.noise_file_prob):
                src = bank[int(rng.integers(len(bank)))]
                start = int(rng.integers(0, max(1, len(src) - len(x))))
                noise = src[start:start + len(x)]
            else:
                noise = coloured_noise(len(x), str(rng.choice(c.noise_colours)), rng, self.sample_rate)
            x = add_noise(x, noise, float(rng.uniform(*c.snr_db)))
        if c.telephone_prob and rng.random() < c.telephone_prob:
            x = telephone_band(x, self.sample_rate)
        if c.codec_prob and rng.random() < c.codec_prob:
            if rng.random() < 0.5:
                x = codec_degrade(x, "mulaw")
            else:
                x = codec_degrade(x, "linear", int(rng.integers(c.codec_bits[0], c.codec_bits[1] + 1)))
        if c.gain_prob and rng.random() < c.gain_prob:
            x = apply_gain(x, float(rng.uniform(*c.gain_db)))
        return _f32(x)

    def features(self, feats: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        c = self.config
        if c.warp_prob and rng.random() < c.warp_prob:
            feats = vtlp_warp(feats, float(rng.uniform(*c.warp_factors)), self.f_min, self.f_max)
        if c.eq_prob and rng.random() < c.eq_prob:
            feats = feats + channel_curve(feats.shape[-1], c.eq_db, rng).to(feats.dtype)
        if c.spec_prob and rng.random() < c.spec_prob:
            return spec_augment(feats, rng, c.freq_masks, c.freq_mask_width, c.time_masks, c.time_mask_width,
                                c.time_mask_max_fraction)
        return feats
