"""speech.audio: files in every format to float32 mono 16 kHz, PCM16, and the bad-input errors."""

import numpy as np
import pytest
import soundfile
import torch

from speech.audio import SAMPLE_RATE, float_to_pcm16, load_audio, pcm16_to_float, validate_samples


def tone(freq=440.0, seconds=0.5, rate=SAMPLE_RATE, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(samples, rate=SAMPLE_RATE):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)]


def _can_write_mp3(tmp_path):
    try:
        soundfile.write(tmp_path / "probe.mp3", np.zeros(1600, np.float32), SAMPLE_RATE, format="MP3")
        return True
    except Exception:  # older libsndfile builds cannot encode mp3
        return False


FORMATS = [  # (extension, soundfile format, subtype, rate, channels)
    ("wav", "WAV", "PCM_16", 44100, 2),
    ("wav", "WAV", "FLOAT", 8000, 1),
    ("flac", "FLAC", "PCM_24", 48000, 1),
    ("ogg", "OGG", "VORBIS", 22050, 2),
    ("mp3", "MP3", "MPEG_LAYER_III", 44100, 2),
]


@pytest.mark.parametrize("ext,fmt,subtype,rate,channels", FORMATS, ids=[f"{f[0]}-{f[3]}-{f[4]}ch" for f in FORMATS])
def test_load_audio_any_format_rate_and_channels(tmp_path, ext, fmt, subtype, rate, channels):
    if ext == "mp3" and not _can_write_mp3(tmp_path):
        pytest.skip("this libsndfile build cannot write mp3, so no mp3 test file can be generated")
    mono = tone(440.0, 0.5, rate)
    data = np.stack([mono] * channels, axis=1) if channels > 1 else mono
    path = tmp_path / f"clip.{ext}"
    soundfile.write(path, data, rate, format=fmt, subtype=subtype)

    samples = load_audio(path)

    assert samples.dtype == np.float32 and samples.ndim == 1
    # mp3 adds encoder delay/padding (a few ms); the other formats keep the length exactly
    assert abs(len(samples) - SAMPLE_RATE // 2) <= (0.06 * SAMPLE_RATE if ext == "mp3" else 1)
    assert abs(dominant_frequency(samples) - 440.0) < 5
    peak = np.abs(samples[2000:6000]).max()
    assert 0.4 < peak < 0.6  # same loudness after mixing identical channels down


def test_load_audio_16k_float_wav_is_exact(tmp_path):
    data = np.random.default_rng(0).uniform(-0.9, 0.9, 4000).astype(np.float32)
    soundfile.write(tmp_path / "a.wav", data, SAMPLE_RATE, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(tmp_path / "a.wav"), data)


def test_load_audio_mixes_channels_to_mono(tmp_path):
    left, right = np.full(1000, 0.5, np.float32), np.full(1000, -0.1, np.float32)
    soundfile.write(tmp_path / "st.wav", np.stack([left, right], 1), SAMPLE_RATE, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(str(tmp_path / "st.wav")), 0.2, atol=1e-6)


def test_load_audio_other_target_rate(tmp_path):
    soundfile.write(tmp_path / "a.flac", tone(300.0, 1.0, 16000), 16000)
    out = load_audio(tmp_path / "a.flac", sample_rate=8000)
    assert len(out) == 8000
    assert abs(dominant_frequency(out, 8000) - 300.0) < 5


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        load_audio(tmp_path / "nope.wav")


@pytest.mark.parametrize("name,content", [("bad.wav", b"RIFF\x00\x00garbage" * 10), ("bad.mp3", b"not audio at all"),
                                          ("bad.flac", bytes(range(256)) * 4)])
def test_corrupt_file_is_value_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match="could not decode"):
        load_audio(path)


def test_directory_is_value_error(tmp_path):
    with pytest.raises(ValueError, match="not an audio file"):
        load_audio(tmp_path)


def test_empty_file_is_value_error(tmp_path):
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.float32), SAMPLE_RATE)
    with pytest.raises(ValueError, match="empty"):
        load_audio(tmp_path / "empty.wav")


def test_nan_in_file_is_value_error(tmp_path):
    data = np.zeros(100, np.float32)
    data[50] = np.nan
    soundfile.write(tmp_path / "nan.wav", data, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(ValueError, match="NaN"):
        load_audio(tmp_path / "nan.wav")


def test_pcm16_round_trip_is_exact():
    ints = np.random.default_rng(1).integers(-32768, 32768, 1000).astype("<i2")
    data = ints.tobytes()
    floats = pcm16_to_float(data)
    assert floats.dtype == np.float32 and floats.min() >= -1.0 and floats.max() < 1.0
    assert float_to_pcm16(floats) == data
    assert len(pcm16_to_float(b"")) == 0


def test_pcm16_known_values_and_clipping():
    np.testing.assert_array_equal(pcm16_to_float(np.array([0, 16384, -32768], "<i2").tobytes()), [0.0, 0.5, -1.0])
    out = np.frombuffer(float_to_pcm16(np.array([2.0, -2.0, 1.0, 0.5])), "<i2")
    np.testing.assert_array_equal(out, [32767, -32768, 32767, 16384])


def test_pcm16_odd_byte_count():
    with pytest.raises(ValueError, match="even number of bytes"):
        pcm16_to_float(b"\x00\x01\x02")


def test_validate_samples_accepts_and_converts():
    out = validate_samples(np.zeros(10, np.float64))
    assert out.dtype == np.float32 and out.shape == (10,)
    assert validate_samples(np.zeros(0, np.float32)).shape == (0,)  # empty chunks are fine
    assert validate_samples(torch.ones(5)).dtype == np.float32


@pytest.mark.parametrize(
    "samples,kwargs,message",
    [
        (np.zeros(10, np.int16), {}, "floating point"),
        (np.zeros((10, 2), np.float32), {}, "1-D mono.*mean\\(axis=1\\)"),
        (np.array([0.0, np.nan], np.float32), {}, "NaN"),
        (np.array([0.0, np.inf], np.float32), {}, "NaN or infinite"),
        (np.zeros(10, np.float32), {"sample_rate": 8000}, "16000"),
        (b"\x00\x00", {}, "pcm16_to_float"),
    ],
    ids=["int16", "stereo", "nan", "inf", "rate", "bytes"],
)
def test_validate_samples_rejects(samples, kwargs, message):
    with pytest.raises(ValueError, match=message):
        validate_samples(samples, **kwargs)
