"""Audio input: files to float32 mono 16 kHz, PCM16 bytes <-> float, sample checks.

Everything inside `speech` works on float32 mono samples in [-1, 1] at
`SAMPLE_RATE`. This module is the one door into that representation:

- `load_audio(path)` reads wav, flac, ogg and mp3 (any rate, any channel count),
  mixes down to mono and resamples;
- `pcm16_to_float` / `float_to_pcm16` convert the wire format (signed 16-bit
  little-endian) to and from float;
- `validate_samples` checks arrays handed to the streaming API and says what is
  wrong with them instead of failing deep inside the model.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional

__all__ = [
    "SAMPLE_RATE",
    "load_audio",
    "pcm16_to_float",
    "float_to_pcm16",
    "validate_samples",
    "resample",
]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000

# Scale between float samples in [-1, 1) and signed 16-bit integers.
_PCM16_SCALE = 32768.0


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read an audio file and return float32 mono samples at `sample_rate`.

    soundfile (libsndfile) reads wav, flac, ogg and, in recent builds, mp3;
    anything it cannot open goes to librosa (audioread), which covers mp3 on
    older libsndfile builds.

    Raises FileNotFoundError for a missing file and ValueError for a file that
    cannot be decoded, holds no samples, or holds NaN/inf.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"audio file not found: {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"not an audio file (it is a directory or special file): {str(path)!r}")
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")

    data, file_rate = _read_any(path)  # (N, channels) float32
    if data.size == 0:
        raise ValueError(f"audio file is empty (no samples): {str(path)!r}")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]  # (N,)
    if not np.all(np.isfinite(mono)):
        raise ValueError(f"audio file holds NaN or infinite samples: {str(path)!r}")
    mono = resample(mono, file_rate, sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def _read_any(path: Path) -> tuple[np.ndarray, int]:
    """Decode `path` to (samples (N, channels) float32, rate); ValueError if nothing can."""
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        return data, int(rate)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as sf_error:
        logger.debug("soundfile could not read %s (%s); trying librosa", path, sf_error)
        first_error: Exception = sf_error

    try:
        with warnings.catch_warnings():
            # librosa warns that soundfile failed (we know) and that audioread is deprecated
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            import librosa  # heavy import: only when soundfile cannot read the file

            data, rate = librosa.load(str(path), sr=None, mono=False, dtype=np.float32)
    except Exception as lr_error:  # librosa/audioread raise many unrelated types
        raise ValueError(
            f"could not decode audio file {str(path)!r}: it is corrupt or not a supported "
            f"format (wav, flac, ogg, mp3); soundfile said: {first_error}; librosa said: {lr_error}"
        ) from lr_error
    data = np.asarray(data, dtype=np.float32)
    if data.size == 0:  # ffmpeg "decodes" garbage into nothing
        raise ValueError(
            f"could not decode audio file {str(path)!r}: it is corrupt or not a supported format "
            f"(wav, flac, ogg, mp3); soundfile said: {first_error}; librosa found no samples"
        )
    if data.ndim == 1:
        data = data[:, None]  # (N, 1)
    else:
        data = data.T  # librosa gives (channels, N) -> (N, channels)
    return data, int(rate)


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample 1-D float32 samples with torchaudio's windowed-sinc resampler."""
    if orig_rate <= 0 or new_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_rate} -> {new_rate}")
    samples = np.asarray(samples, dtype=np.float32)
    if orig_rate == new_rate or samples.size == 0:
        return samples
    out = torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(samples)), orig_rate, new_rate)
    return out.numpy().astype(np.float32, copy=False)


def pcm16_to_float(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Signed 16-bit little-endian PCM bytes -> float32 samples in [-1, 1)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"PCM16 audio must be bytes, got {type(data).__name__}")
    n_bytes = memoryview(data).nbytes
    if n_bytes % 2:
        raise ValueError(f"PCM16 audio must have an even number of bytes (2 per sample), got {n_bytes}")
    ints = np.frombuffer(data, dtype="<i2")  # (N,)
    return ints.astype(np.float32) / np.float32(_PCM16_SCALE)


def float_to_pcm16(samples) -> bytes:
    """Float samples -> signed 16-bit little-endian PCM bytes (values outside [-1, 1] are clipped)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected 1-D mono samples, got shape {samples.shape}")
    if not np.all(np.isfinite(samples)):
        raise ValueError("samples contain NaN or infinite values")
    ints = np.clip(np.round(samples * _PCM16_SCALE), -32768, 32767).astype("<i2")
    return ints.tobytes()


def validate_samples(samples, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Check samples handed to the streaming API; return them as contiguous float32 1-D.

    ValueError when the sample rate is not SAMPLE_RATE, the dtype is not
    floating point (integers would be 32768 times too loud), the array is not
    1-D (stereo), or it holds NaN/inf. An empty array is fine (a stream may get
    an empty chunk).
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(
            f"sample_rate must be {SAMPLE_RATE} Hz, got {sample_rate!r}; resample first "
            f"(speech.audio.resample or load_audio)"
        )
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().numpy()
    elif isinstance(samples, (bytes, bytearray, memoryview)):
        raise ValueError("samples are raw bytes; convert PCM16 with speech.audio.pcm16_to_float first")
    arr = np.asarray(samples)
    if arr.dtype.kind != "f":
        raise ValueError(
            f"samples must be floating point in [-1, 1], got dtype {arr.dtype}; "
            f"for int16 PCM divide by 32768 (or use pcm16_to_float)"
        )
    if arr.ndim != 1:
        hint = "; mix stereo down with samples.mean(axis=1)" if arr.ndim == 2 else ""
        raise ValueError(f"samples must be 1-D mono, got shape {arr.shape}{hint}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError("samples contain NaN or infinite values")
    return arr
