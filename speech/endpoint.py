"""Speech start / end-of-speech detection for audio streams.

The audio is high-passed (`highpass_hz`: rumble and hum carry no speech) and
cut into fixed analysis frames (`frame_ms`; filter state and partial frames are
carried over between calls, so any chunking gives the same events). Each frame's
energy (dBFS) is compared with an adaptive noise floor: the floor follows quieter
frames quickly (`noise_fall_ms`) and louder ones slowly (`noise_rise_ms`, ten
times slower while in speech), so stationary background noise becomes the floor
and does not count as speech. A frame is voiced when it is `start_db` above the
floor (`stop_db` once in speech: hysteresis) and above the absolute
`min_energy_db`. With the speech-like test signal, "medium" works down to about
10 dB SNR in white noise and "high" to about 5 dB.

* speech_started: after `min_speech_ms` of voiced frames with no unvoiced gap
  longer than `onset_gap_ms`; `audio_ms` is where the first of them began.
* speech_stopped: `audio_ms` is where the speech ended, `reason` says why:
  "silence" — `silence_ms` without a voiced frame;
  "blank" — the acoustic model's CTC blank probabilities (`blank_probs`, one per
  model output frame of `blank_frame_ms`) stayed >= `blank_threshold` for
  `blank_silence_ms`, even though the energy did not drop (steady noise, music);
  "silence+blank" — energy silence and a blank run both at least
  `blank_assist * silence_ms` (the two kinds of evidence agree, so a shorter
  silence is enough);
  "max_speech" — speech lasted `max_speech_ms`.
  After a "blank" stop no new speech starts until the blank run ends (the model
  hears characters again), else the loud non-speech would restart it at once.

Blank evidence: pass `blank_probs` on every call (an empty array or None when a
call produced no model frames). From the first call that passes them, the
endpointer runs in blank mode: it decides about an analysis frame only once the
blank probabilities covering it have arrived (the model's small lag), so the
events do not depend on how audio and model frames were split into calls.
Audio fed before that first call is judged on energy alone.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np
from scipy.signal import butter, sosfilt

__all__ = ["EndpointConfig", "Endpointer", "EndpointEvent", "PRESETS", "SENSITIVITIES"]

log = logging.getLogger(__name__)

# Thresholds of each sensitivity: "high" reacts to quieter and shorter speech, "low" needs clearer speech
# (better in loud places).
PRESETS: dict[str, dict[str, float]] = {
    "low": {"start_db": 12.0, "stop_db": 7.0, "min_speech_ms": 250.0, "min_energy_db": -45.0},
    "medium": {"start_db": 9.0, "stop_db": 5.0, "min_speech_ms": 150.0, "min_energy_db": -50.0},
    "high": {"start_db": 6.0, "stop_db": 3.0, "min_speech_ms": 100.0, "min_energy_db": -55.0},
}
SENSITIVITIES = tuple(PRESETS)


@dataclass(frozen=True)
class EndpointConfig:
    sensitivity: str = "medium"  # preset for the fields left at None: "low" | "medium" | "high"
    silence_ms: float = 700.0  # non-speech after speech that ends the utterance
    min_speech_ms: float | None = None  # voiced time needed to declare speech started (preset)
    start_db: float | None = None  # a frame is voiced this many dB above the noise floor (preset)
    stop_db: float | None = None  # ... and, once in speech, this many (hysteresis, <= start_db) (preset)
    min_energy_db: float | None = None  # frames quieter than this (dBFS) are never speech (preset)
    onset_gap_ms: float = 200.0  # an unvoiced gap longer than this before speech is confirmed restarts the count
    max_speech_ms: float = 30000.0  # speech this long is ended anyway (0 = no limit)
    frame_ms: float = 10.0  # analysis frame length
    highpass_hz: float = 100.0  # energy is measured above this frequency (rumble, hum, DC ignored; 0 = off)
    noise_fall_ms: float = 50.0  # time constant of the noise floor following quieter frames
    noise_rise_ms: float = 2000.0  # time constant of the noise floor following louder frames (x10 in speech)
    blank_threshold: float = 0.95  # a model frame with P(blank) >= this is "nothing said"
    blank_frame_ms: float = 30.0  # duration of one acoustic-model output frame (blank_probs element)
    blank_silence_ms: float = 1500.0  # a blank run this long ends speech whatever the energy (0 = never)
    blank_assist: float = 0.7  # energy silence and blank run both >= blank_assist * silence_ms end speech (0 = off)

    def __post_init__(self):
        if self.sensitivity not in PRESETS:
            raise ValueError(f"sensitivity must be one of {', '.join(map(repr, SENSITIVITIES))}, got {self.sensitivity!r}")
        for name, value in PRESETS[self.sensitivity].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        for f in fields(self):
            if f.name == "sensitivity":
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
            object.__setattr__(self, f.name, float(value))
        positive = ("silence_ms", "min_speech_ms", "frame_ms", "noise_fall_ms", "noise_rise_ms", "blank_frame_ms")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("highpass_hz", "onset_gap_ms", "max_speech_ms", "blank_silence_ms", "blank_assist", "stop_db"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.stop_db > self.start_db:
            raise ValueError(f"stop_db ({self.stop_db}) must not exceed start_db ({self.start_db})")
        if not 0.0 < self.blank_threshold <= 1.0:
            raise ValueError(f"blank_threshold must be in (0, 1], got {self.blank_threshold!r}")
        if self.blank_assist > 1.0:
            raise ValueError(f"blank_assist must be in [0, 1], got {self.blank_assist!r}")

    @classmethod
    def preset(cls, name: str, **overrides) -> "EndpointConfig":
        """The `name` sensitivity preset with some fields changed."""
        if "sensitivity" in overrides:
            raise ValueError("give the sensitivity as the preset name, not as an override")
        valid = [f.name for f in fields(cls) if f.name != "sensitivity"]
        unknown = sorted(set(overrides) - set(valid))
        if unknown:
            raise ValueError(f"unknown endpoint setting(s) {unknown}; valid: {', '.join(valid)}")
        return cls(sensitivity=name, **overrides)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "EndpointConfig":
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ValueError(f"unknown endpoint setting(s) {unknown}; valid: {', '.join(valid)}")
        return cls(**data)


@dataclass(frozen=True)
class EndpointEvent:
    kind: str  # "speech_started" | "speech_stopped"
    audio_ms: float  # where in the stream the speech started / ended
    detected_ms: float = 0.0  # stream position at which the decision was made (>= audio_ms)
    reason: str = field(default="")  # for speech_stopped: "silence" | "blank" | "silence+blank" | "max_speech"


_IDLE, _ONSET, _SPEECH = 0, 1, 2


class Endpointer:
    """Streaming speech start / end detection (see the module docstring). One per audio stream."""

    def __init__(self, config: EndpointConfig | None = None, sample_rate: int = 16000):
        config = EndpointConfig() if config is None else config
        if not isinstance(config, EndpointConfig):
            raise ValueError(f"config must be an EndpointConfig, got {type(config).__name__}")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        hop = sample_rate * config.frame_ms / 1000.0
        if abs(hop - round(hop)) > 1e-9 or round(hop) < 1:
            raise ValueError(f"frame_ms={config.frame_ms} is not a whole number of samples at {sample_rate} Hz")
        if config.highpass_hz >= sample_rate / 2:
            raise ValueError(f"highpass_hz={config.highpass_hz} must be below half the sample rate ({sample_rate / 2} Hz)")
        self.config = config
        self.sample_rate = sample_rate
        # 2nd-order Butterworth high-pass, run with carried state so chunking does not matter.
        self._sos = butter(2, config.highpass_hz, btype="highpass", fs=sample_rate, output="sos") if config.highpass_hz > 0 else None
        self._hop = int(round(hop))
        self._fall = 1.0 - math.exp(-config.frame_ms / config.noise_fall_ms)
        self._rise = 1.0 - math.exp(-config.frame_ms / config.noise_rise_ms)
        self._rise_speech = 1.0 - math.exp(-config.frame_ms / (10.0 * config.noise_rise_ms))
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next sample is time 0."""
        self._pending = np.zeros(0, dtype=np.float64)  # unfiltered samples of an incomplete analysis frame
        self._filter_state = np.zeros((self._sos.shape[0], 2)) if self._sos is not None else None
        self._energies: list[float] = []  # dBFS of complete frames not yet decided (blank mode waits)
        self._frames = 0  # analysis frames decided
        self._samples = 0  # samples received
        self._floor: float | None = None  # noise floor (dBFS)
        self._state = _IDLE
        self._onset_ms = 0.0  # where the current onset / speech began
        self._voiced_ms = 0.0  # voiced time counted during onset
        self._gap_ms = 0.0  # current unvoiced gap during onset
        self._last_voiced_ms = 0.0  # end of the last voiced frame in speech
        self._blank_mode = False
        self._blank_flags: list[bool] = []  # per model frame: P(blank) >= threshold
        self._blank_used = 0  # model frames (of the list below) folded into the run below
        self._blank_origin = 0  # model frames dropped from the front of the list
        self._blank_veto = False  # after a "blank" stop: no new start during the same blank run
        self._blank_run_start: float | None = None  # start (ms) of the current run of blank frames

    @property
    def in_speech(self) -> bool:
        return self._state == _SPEECH

    @property
    def audio_ms(self) -> float:
        """Milliseconds of audio received so far."""
        return self._samples * 1000.0 / self.sample_rate

    @property
    def noise_floor_db(self) -> float | None:
        return self._floor

    def feed(self, samples, blank_probs=None) -> list[EndpointEvent]:
        """Add audio (float mono at `sample_rate`) and, optionally, the CTC blank probabilities of the
        model frames computed since the last call; return the events decided."""
        x = np.asarray(samples)
        if x.dtype.kind != "f":
            raise ValueError(f"samples must be floating point in [-1, 1], got dtype {x.dtype}")
        if x.ndim != 1:
            raise ValueError(f"samples must be 1-D (mono), got shape {x.shape}")
        if x.size and not np.isfinite(x).all():
            raise ValueError("samples contain NaN or infinity")
        if blank_probs is not None:
            b = np.asarray(blank_probs, dtype=np.float64)
            if b.ndim != 1:
                raise ValueError(f"blank_probs must be 1-D (one per model frame), got shape {b.shape}")
            if b.size and (not np.isfinite(b).all() or b.min() < -1e-6 or b.max() > 1 + 1e-6):
                raise ValueError("blank_probs must be probabilities in [0, 1]")
            self._blank_mode = True
            self._blank_flags.extend((b >= self.config.blank_threshold).tolist())
        self._samples += x.size
        x = x.astype(np.float64)
        if self._pending.size:
            x = np.concatenate([self._pending, x])
        n = x.size // self._hop
        if n:
            whole = x[: n * self._hop]
            if self._sos is not None:  # filtered a whole number of frames at a time, state carried
                whole, self._filter_state = sosfilt(self._sos, whole, zi=self._filter_state)
            frames = whole.reshape(n, self._hop)  # (n, hop)
            power = np.mean(frames * frames, axis=1)  # (n,)
            self._energies.extend((10.0 * np.log10(power + 1e-10)).tolist())
        self._pending = x[n * self._hop :]  # raw samples of the next, incomplete frame
        return self._decide() if n or blank_probs is not None else []

    def _decide(self) -> list[EndpointEvent]:
        events: list[EndpointEvent] = []
        cfg = self.config
        fm = cfg.frame_ms
        ready = len(self._energies)
        if self._blank_mode:  # wait for the model frames that cover an analysis frame
            covered_ms = (self._blank_origin + len(self._blank_flags)) * cfg.blank_frame_ms
            ready = min(ready, max(int(math.floor(covered_ms / fm + 1e-9)) - self._frames, 0))
        for e in self._energies[:ready]:
            start = self._frames * fm
            end = start + fm
            self._frames += 1
            voiced = self._voiced(e)
            if self._blank_mode:
                self._fold_blanks(end)
            if self._state == _IDLE:
                if not voiced or (self._blank_veto and self._blank_run_start is not None):
                    continue
                self._blank_veto = False
                self._state, self._onset_ms, self._voiced_ms, self._gap_ms = _ONSET, start, fm, 0.0
            elif self._state == _ONSET:
                if voiced:
                    self._voiced_ms += fm
                    self._gap_ms = 0.0
                else:
                    self._gap_ms += fm
                    if self._gap_ms > cfg.onset_gap_ms + 1e-9:
                        self._state = _IDLE
                    continue
            elif voiced:  # in speech
                self._last_voiced_ms = end
            if self._state == _ONSET:
                if self._voiced_ms >= cfg.min_speech_ms - 1e-9:
                    self._state = _SPEECH
                    self._last_voiced_ms = end
                    events.append(EndpointEvent("speech_started", self._onset_ms, end))
                    log.debug("speech started at %.0f ms (detected at %.0f ms)", self._onset_ms, end)
                continue
            stop = self._stop_reason(end)
            if stop is not None:
                reason, at = stop
                self._state = _IDLE
                # Ended by blank evidence while the energy stays up: no new start until the model hears something.
                self._blank_veto = reason == "blank"
                events.append(EndpointEvent("speech_stopped", at, end, reason))
                log.debug("speech stopped at %.0f ms (%s, detected at %.0f ms)", at, reason, end)
        del self._energies[:ready]
        return events

    def _voiced(self, e: float) -> bool:
        """Classify one frame's energy (dBFS) and update the noise floor."""
        cfg = self.config
        if self._floor is None:
            self._floor = e
        floor = self._floor
        voiced = e >= floor + (cfg.stop_db if self._state == _SPEECH else cfg.start_db) and e >= cfg.min_energy_db
        if e < floor:
            self._floor = floor + (e - floor) * self._fall
        else:
            self._floor = floor + (e - floor) * (self._rise_speech if voiced and self._state != _IDLE else self._rise)
        return voiced

    def _fold_blanks(self, now_ms: float) -> None:
        """Fold the model frames that ended by `now_ms` into the current blank run."""
        bfm = self.config.blank_frame_ms
        flags = self._blank_flags
        i = self._blank_used
        while i < len(flags) and (self._blank_origin + i + 1) * bfm <= now_ms + 1e-9:
            if flags[i]:
                if self._blank_run_start is None:
                    self._blank_run_start = (self._blank_origin + i) * bfm
            else:
                self._blank_run_start = None
            i += 1
        self._blank_used = i
        if i > 4096:  # keep the history short; times stay absolute through the origin
            del flags[:i]
            self._blank_origin += i
            self._blank_used = 0

    def _blank_run_ms(self, now_ms: float) -> float:
        if self._blank_run_start is None:
            return 0.0
        covered = (self._blank_origin + self._blank_used) * self.config.blank_frame_ms
        return max(0.0, min(covered, now_ms) - self._blank_run_start)

    def _stop_reason(self, now_ms: float) -> tuple[str, float] | None:
        cfg = self.config
        quiet = now_ms - self._last_voiced_ms
        if quiet >= cfg.silence_ms - 1e-9:
            return "silence", self._last_voiced_ms
        if self._blank_mode:
            run = self._blank_run_ms(now_ms)
            if cfg.blank_silence_ms > 0 and run >= cfg.blank_silence_ms - 1e-9:
                return "blank", max(self._blank_run_start, self._onset_ms)
            need = cfg.blank_assist * cfg.silence_ms
            if cfg.blank_assist > 0 and quiet >= need - 1e-9 and run >= need - 1e-9:
                return "silence+blank", self._last_voiced_ms
        if cfg.max_speech_ms > 0 and now_ms - self._onset_ms >= cfg.max_speech_ms - 1e-9:
            return "max_speech", now_ms
        return None
