"""speech.features: log-mel shapes and values, and streaming == whole utterance for any chunking."""

import math

import numpy as np
import pytest
import torch
import torchaudio

from speech.features import FeatureConfig, FeatureExtractor, StreamingFeaturizer


def noise(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)
    x[3000:5000] = 0.0  # digital silence hits the log floor
    x[7000:8000] *= 1e-4  # very quiet stretch
    return x


def test_shapes_and_frame_count():
    fe = FeatureExtractor()
    feats = fe(noise(1.0))
    assert feats.shape == (98, 80) and feats.dtype == torch.float32
    assert fe.num_frames(16000) == 98
    for n in (0, 1, 399, 400, 559, 560, 12345):
        assert fe(np.zeros(n, np.float32)).shape == (fe.num_frames(n), 80)
    assert fe.num_frames(399) == 0 and fe.num_frames(400) == 1 and fe.num_frames(560) == 2


def test_silence_is_the_log_floor():
    feats = FeatureExtractor()(np.zeros(1000, np.float32))
    torch.testing.assert_close(feats, torch.full_like(feats, math.log(1e-10)))


def test_tone_peaks_in_the_right_mel_channel():
    config = FeatureConfig()
    t = np.arange(16000) / 16000
    feats = FeatureExtractor(config)((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    fbanks = torchaudio.functional.melscale_fbanks(
        config.n_fft // 2 + 1, config.f_min, config.f_max, config.n_mels, config.sample_rate
    )  # (freqs, n_mels)
    bin_1k = round(1000 / (config.sample_rate / config.n_fft))
    assert int(feats.mean(0).argmax()) == int(fbanks[bin_1k].argmax())


def test_frame_i_depends_only_on_its_samples():
    x = noise(0.5)
    fe = FeatureExtractor()
    base = fe(x)
    y = x.copy()
    y[400 + 160 * 5 :] = 0.9  # frames 0..5 end before this sample
    changed = fe(y)
    torch.testing.assert_close(changed[:6], base[:6], rtol=0, atol=1e-6)
    assert not torch.allclose(changed[6:], base[6:])


def test_tensor_input_and_batch_match_numpy():
    fe = FeatureExtractor()
    a, b = noise(0.3, 1), noise(0.5, 2)
    torch.testing.assert_close(fe(torch.from_numpy(a)), fe(a))
    padded = torch.zeros(2, len(b))
    padded[0, : len(a)], padded[1] = torch.from_numpy(a), torch.from_numpy(b)
    batch = fe.batch(padded)  # (2, T, 80)
    torch.testing.assert_close(batch[0, : fe.num_frames(len(a))], fe(a), atol=1e-5, rtol=0)
    torch.testing.assert_close(batch[1], fe(b), atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", range(6))
def test_streaming_equals_whole_for_random_chunks(seed):
    rng = np.random.default_rng(seed)
    x = noise(1.3, seed)
    whole = FeatureExtractor()(x)
    stream = StreamingFeaturizer()
    outputs, i = [], 0
    while i < len(x):
        n = int(rng.choice([0, 1, 2, 159, 160, 161, 399, 400, 401, int(rng.integers(0, 4000))]))
        out = stream.feed(x[i : i + n])
        assert out.shape[1] == 80
        outputs.append(out)
        i += n
    outputs.append(stream.feed(np.zeros(0, np.float32)))
    chunked = torch.cat(outputs)
    assert chunked.shape == whole.shape
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)
    assert stream.frames_emitted == whole.shape[0] and stream.samples_seen == len(x)


def test_streaming_one_sample_at_a_time():
    x = noise(0.1, 7)
    stream = StreamingFeaturizer()
    chunked = torch.cat([stream.feed(x[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(chunked, FeatureExtractor()(x), atol=1e-5, rtol=0)


def test_streaming_reset_starts_over():
    x = noise(0.2, 3)
    stream = StreamingFeaturizer()
    stream.feed(x[:1234])
    stream.reset()
    torch.testing.assert_close(stream.feed(x), FeatureExtractor()(x))


def test_streaming_rejects_bad_samples():
    stream = StreamingFeaturizer()
    with pytest.raises(ValueError, match="1-D"):
        stream.feed(np.zeros((100, 2), np.float32))
    with pytest.raises(ValueError, match="floating point"):
        stream.feed(np.zeros(100, np.int16))


def test_config_round_trip_and_validation():
    config = FeatureConfig(n_mels=40, f_max=8000.0)
    assert FeatureConfig.from_dict(config.to_dict()) == config
    assert config.frame_shift_seconds == 0.01
    with pytest.raises(ValueError, match="unknown FeatureConfig fields \\['bogus'\\]"):
        FeatureConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="n_mels"):
        FeatureConfig(n_mels=0)
    with pytest.raises(ValueError, match="win_length"):
        FeatureConfig(win_length=512, n_fft=400)
    with pytest.raises(ValueError, match="f_max"):
        FeatureConfig(f_max=9000.0)
    with pytest.raises(Exception):
        config.n_mels = 80  # frozen


def test_feed_many_equals_each_featurizer_fed_alone():
    from speech.features import feed_many

    rng = np.random.default_rng(3)
    alone = [StreamingFeaturizer() for _ in range(4)]
    together = [StreamingFeaturizer() for _ in range(4)]
    for size in (100, 1600, 0, 399, 401, 1600, 3333):  # chunks that complete 0, 1 or many frames
        chunks = [(0.1 * rng.standard_normal(size + 37 * i)).astype(np.float32) for i in range(4)]
        expected = [f.feed(x) for f, x in zip(alone, chunks)]
        got = feed_many(together, chunks)
        for e, g in zip(expected, got):
            assert torch.equal(e, g)  # bit for bit: the finals downstream stay the same
    for a, b in zip(alone, together):
        assert (a.samples_seen, a.frames_emitted) == (b.samples_seen, b.frames_emitted)
        assert np.array_equal(a._buffer, b._buffer)
    with pytest.raises(ValueError):
        feed_many(together, [np.zeros(10, np.float32)] * 3 + [np.full(10, np.nan, np.float32)])
    assert [f.samples_seen for f in together] == [a.samples_seen for a in alone]  # nothing changed
