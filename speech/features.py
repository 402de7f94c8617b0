"""Log-mel features, whole-utterance and streaming.

Frame i covers samples [i * hop_length, i * hop_length + n_fft) (no centre
padding), so a frame only exists once all of its samples have arrived. That is
what lets `StreamingFeaturizer` produce exactly the frames `FeatureExtractor`
produces for the whole utterance, whatever the chunk sizes: it keeps the samples
of the next unfinished frame and computes each frame once, from the same
samples, with the same transform.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torchaudio.transforms

from .audio import SAMPLE_RATE, validate_samples

__all__ = ["FeatureConfig", "FeatureExtractor", "StreamingFeaturizer", "feed_many"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureConfig:
    """How audio becomes log-mel frames (saved inside checkpoints)."""

    sample_rate: int = SAMPLE_RATE  # input sample rate in Hz
    n_fft: int = 400  # FFT size in samples; a frame spans n_fft samples (25 ms)
    win_length: int = 400  # Hann window length in samples (<= n_fft, centred in the FFT frame)
    hop_length: int = 160  # samples between frame starts (10 ms -> 100 frames per second)
    n_mels: int = 80  # mel filterbank channels = feature size
    f_min: float = 20.0  # lowest filterbank frequency in Hz
    f_max: float = 7600.0  # highest filterbank frequency in Hz (<= sample_rate / 2)
    log_floor: float = 1e-10  # power floor before the log: log(max(power, log_floor))

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"FeatureConfig.{name} must be a positive int, got {value!r}")
        for name in ("f_min", "f_max", "log_floor"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
                raise ValueError(f"FeatureConfig.{name} must be a finite number, got {value!r}")
        if self.win_length > self.n_fft:
            raise ValueError(f"FeatureConfig.win_length ({self.win_length}) must be <= n_fft ({self.n_fft})")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"FeatureConfig needs 0 <= f_min < f_max <= sample_rate / 2, got f_min={self.f_min}, "
                f"f_max={self.f_max}, sample_rate={self.sample_rate}"
            )
        if self.log_floor <= 0:
            raise ValueError(f"FeatureConfig.log_floor must be > 0, got {self.log_floor!r}")

    @property
    def frame_shift_seconds(self) -> float:
        """Seconds between consecutive feature frames."""
        return self.hop_length / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ValueError(f"unknown FeatureConfig fields {unknown}; valid fields: {sorted(valid)}")
        return cls(**data)


class FeatureExtractor:
    """Whole-utterance log-mel features: samples (N,) -> (T, n_mels) float32."""

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config or FeatureConfig()
        self._transforms: dict[torch.device, torchaudio.transforms.MelSpectrogram] = {}

    def _mel(self, device: torch.device) -> torchaudio.transforms.MelSpectrogram:
        mel = self._transforms.get(device)
        if mel is None:
            c = self.config
            mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=c.sample_rate,
                n_fft=c.n_fft,
                win_length=c.win_length,
                hop_length=c.hop_length,
                f_min=c.f_min,
                f_max=c.f_max,
                n_mels=c.n_mels,
                power=2.0,
                center=False,
            ).to(device)
            self._transforms[device] = mel
        return mel

    def num_frames(self, n_samples: int) -> int:
        """Frames produced from `n_samples` samples (0 until one whole frame is there)."""
        c = self.config
        if n_samples < c.n_fft:
            return 0
        return 1 + (n_samples - c.n_fft) // c.hop_length

    def __call__(self, samples: np.ndarray | torch.Tensor) -> torch.Tensor:
        if isinstance(samples, torch.Tensor) and samples.dim() == 1 and samples.is_floating_point():
            if not torch.isfinite(samples).all():
                raise ValueError("samples contain NaN or infinite values")
            wave = samples.to(torch.float32)
        else:
            wave = torch.from_numpy(validate_samples(samples, self.config.sample_rate))
        return self.batch(wave.unsqueeze(0))[0]  # (T, n_mels)

    def batch(self, waves: torch.Tensor) -> torch.Tensor:
        """Padded batch of waveforms (B, N) -> (B, T, n_mels); item b is valid for num_frames(len_b) frames."""
        if waves.dim() != 2 or not waves.is_floating_point():
            raise ValueError(f"expected float waveforms of shape (B, N), got {tuple(waves.shape)} {waves.dtype}")
        waves = waves.to(torch.float32)
        n_frames = self.num_frames(waves.shape[1])
        if n_frames == 0:
            return waves.new_zeros(waves.shape[0], 0, self.config.n_mels)  # (B, 0, n_mels)
        # Only the samples that complete frames: the transform then never sees a partial frame.
        used = (n_frames - 1) * self.config.hop_length + self.config.n_fft
        power = self._mel(waves.device)(waves[:, :used])  # (B, n_mels, T)
        return torch.log(torch.clamp(power, min=self.config.log_floor)).transpose(1, 2).contiguous()  # (B, T, n_mels)


class StreamingFeaturizer:
    """Chunked log-mel: the concatenation of `feed` outputs equals FeatureExtractor on the whole audio."""

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config or FeatureConfig()
        self._extractor = FeatureExtractor(self.config)
        self.reset()

    def reset(self) -> None:
        """Forget buffered samples and start a new utterance."""
        self._buffer = np.zeros(0, dtype=np.float32)  # samples not yet consumed by a finished frame
        self.samples_seen = 0  # samples fed since reset
        self.frames_emitted = 0  # frames returned since reset

    def feed(self, samples: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Add samples; return the frames they complete, (t, n_mels) with t possibly 0."""
        samples = validate_samples(samples, self.config.sample_rate)
        self.samples_seen += samples.size
        buffer = np.concatenate([self._buffer, samples]) if self._buffer.size else samples
        n_frames = self._extractor.num_frames(buffer.size)
        if n_frames == 0:
            self._buffer = buffer.copy()
            return torch.zeros(0, self.config.n_mels)  # (0, n_mels)
        feats = self._extractor(torch.from_numpy(buffer))  # (n_frames, n_mels)
        assert feats.shape[0] == n_frames
        self._buffer = buffer[n_frames * self.config.hop_length :].copy()
        self.frames_emitted += n_frames
        return feats


def feed_many(featurizers: list[StreamingFeaturizer], chunks: list[np.ndarray]) -> list[torch.Tensor]:
    """`[f.feed(x) for f, x in zip(featurizers, chunks)]` with one transform call for all of them.

    Every new frame of every stream is cut out of its stream's samples (n_fft samples each) and the
    frames go through the mel transform as one batch of frame-long signals; the result equals the
    per-stream `feed` exactly (a frame's value depends only on its own samples), at a fraction of
    the per-call overhead when many streams each bring a few frames (the server's tick). All
    featurizers must share one FeatureConfig; every chunk is checked before any featurizer changes.
    """
    if not featurizers:
        return []
    config = featurizers[0].config
    if any(f.config != config for f in featurizers):
        raise ValueError("feed_many needs featurizers with the same FeatureConfig")
    chunks = [validate_samples(x, config.sample_rate) for x in chunks]
    extractor = featurizers[0]._extractor
    frames, counts = [], []
    for f, samples in zip(featurizers, chunks):
        f.samples_seen += samples.size
        buffer = np.concatenate([f._buffer, samples]) if f._buffer.size else samples
        n = extractor.num_frames(buffer.size)
        counts.append(n)
        if n:
            frames.append(np.lib.stride_tricks.sliding_window_view(buffer, config.n_fft)[: n * config.hop_length
                                                                                         : config.hop_length])
            f.frames_emitted += n
        f._buffer = buffer[n * config.hop_length:].copy()
    if not frames:
        return [torch.zeros(0, config.n_mels) for _ in featurizers]  # (0, n_mels) each
    batch = torch.from_numpy(np.ascontiguousarray(np.concatenate(frames), dtype=np.float32))  # (N, n_fft)
    mel = extractor._mel(batch.device)
    power = mel.spectrogram(batch)[:, :, 0]  # (N, n_fft // 2 + 1): one frame per frame-long signal
    # The filterbank product runs per stream with the shape `feed` gives it, (1, t, n_freq): a matrix
    # product's rounding depends on its shape, and these features must equal `feed`'s bit for bit.
    fb = mel.mel_scale.fb  # (n_freq, n_mels)
    mels = torch.cat([torch.matmul(part[None], fb)[0] for part in torch.split(power, counts) if len(part)])  # (N, n_mels)
    feats = torch.log(torch.clamp_(mels, min=config.log_floor))  # (N, n_mels)
    return list(torch.split(feats, counts))
