"""Waveform augmentation and SpecAugment (speech/augment.py): shapes, dtypes, finiteness, seeded reproducibility."""
import numpy as np
import pytest
import torch

from speech.augment import (NOISE_COLOURS, AugmentConfig, Augmenter, add_noise, apply_gain, codec_degrade,
                            coloured_noise, pad_room_tone, pitch_shift, reverberate, spec_augment, speed_perturb,
                            channel_curve, synthetic_rir, telephone_band, vtlp_warp)

SR = 16000


def voice(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1500 * t) + 0.01 * rng.standard_normal(len(t))
    return (x * (t > 0.2)).astype(np.float32)


def band_energy(x, lo, hi):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return spec[(f >= lo) & (f < hi)].sum()


def check(y, n):
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == n
    assert np.all(np.isfinite(y)) and np.abs(y).max() <= 1.0


def test_length_preserving_transforms():
    x = voice()
    rng = np.random.default_rng(0)
    check(apply_gain(x, 20.0), len(x))
    check(add_noise(x, coloured_noise(100, "pink", rng), 10.0), len(x))  # short noise is looped
    check(reverberate(x, synthetic_rir(0.5, rng)), len(x))
    check(telephone_band(x), len(x))
    check(codec_degrade(x, "mulaw"), len(x))
    check(codec_degrade(x, "linear", 6), len(x))
    with pytest.raises(ValueError, match="mode"):
        codec_degrade(x, "mp3")


def test_speed_changes_duration():
    x = voice()
    assert abs(len(speed_perturb(x, 1.1)) - len(x) / 1.1) <= 2
    assert abs(len(speed_perturb(x, 0.9)) - len(x) / 0.9) <= 2
    assert speed_perturb(x, 1.0) is not None and len(speed_perturb(x, 1.0)) == len(x)
    with pytest.raises(ValueError):
        speed_perturb(x, 0.0)


def test_noise_snr_and_colours():
    x = voice(2.0)
    rng = np.random.default_rng(1)
    for colour in NOISE_COLOURS:
        n = coloured_noise(len(x), colour, rng)
        assert n.dtype == np.float32 and abs(np.sqrt(np.mean(n ** 2)) - 1) < 1e-3
    y = add_noise(x, coloured_noise(len(x), "white", rng), 10.0)
    active = x[int(0.2 * SR):]
    snr = 10 * np.log10(np.mean(active ** 2) / np.mean((y - x)[int(0.2 * SR):] ** 2))
    assert 8.0 < snr < 12.0
    with pytest.raises(ValueError, match="colour"):
        coloured_noise(10, "purple", rng)
    # pink noise has relatively more low-frequency energy than white noise
    pink, white = coloured_noise(SR, "pink", rng), coloured_noise(SR, "white", rng)
    assert band_energy(pink, 0, 500) / band_energy(pink, 4000, 8000) > \
        3 * band_energy(white, 0, 500) / band_energy(white, 4000, 8000)


def test_telephone_band_removes_high_and_low_frequencies():
    rng = np.random.default_rng(2)
    x = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    y = telephone_band(x)
    assert band_energy(y, 5000, 8000) < 0.01 * band_energy(x, 5000, 8000)
    assert band_energy(y, 0, 150) < 0.1 * band_energy(x, 0, 150)
    assert band_energy(y, 800, 3000) > 0.5 * band_energy(x, 800, 3000)


@pytest.mark.slow  # the first librosa phase-vocoder call takes seconds (imports, JIT)
def test_pitch_shift_keeps_length_and_moves_pitch():
    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    y = pitch_shift(x, 12.0)  # one octave up
    check(y, len(x))
    assert band_energy(y, 550, 650) > 5 * band_energy(y, 250, 350)
    cfg = AugmentConfig.from_dict({**AugmentConfig.off().to_dict(), "pitch_prob": 1.0})
    a = Augmenter(cfg)(x, np.random.default_rng(3))
    assert np.array_equal(a, Augmenter(cfg)(x, np.random.default_rng(3)))


def test_rir_decays():
    h = synthetic_rir(0.4, np.random.default_rng(0))
    assert h[0] == 1.0 and len(h) == int(0.4 * SR)
    early, late = np.abs(h[100:1000]).mean(), np.abs(h[-1000:]).mean()
    assert late < 0.05 * early


def test_augmenter_is_seeded_and_keeps_type():
    cfg = AugmentConfig(pad_prob=0.0, speed_prob=0.5, pitch_prob=0.0, gain_prob=1, noise_prob=1, reverb_prob=0.5,
                        telephone_prob=0.5, codec_prob=0.5, spec_prob=1.0)
    aug = Augmenter(cfg)
    x = voice()
    outs = []
    for seed in range(6):
        a = aug(x, np.random.default_rng(seed))
        b = aug(x, np.random.default_rng(seed))
        assert np.array_equal(a, b)
        assert a.dtype == np.float32 and np.all(np.isfinite(a)) and np.abs(a).max() <= 1.0
        assert abs(len(a) - len(x)) <= len(x) * 0.12
        outs.append(a)
    assert any(len(o) != len(outs[0]) or not np.array_equal(o, outs[0]) for o in outs[1:])
    off = Augmenter(AugmentConfig.off())
    assert np.array_equal(off(x, np.random.default_rng(0)), x)


def test_room_tone_padding_adds_quiet_pauses_at_the_clip_floor():
    rng = np.random.default_rng(0)
    x = voice()
    quiet = np.concatenate([np.zeros(SR // 2, np.float32), x])  # a recording with a pause and a noise floor
    quiet = (quiet + 0.01 * rng.standard_normal(len(quiet))).astype(np.float32)
    y = pad_room_tone(quiet, 4000, 800, np.random.default_rng(1))
    assert y.dtype == np.float32 and len(y) == len(quiet) + 4800
    assert np.array_equal(y[4000:-800], quiet)  # the recording itself is untouched
    pad_rms = np.sqrt(np.mean(y[:4000] ** 2))
    assert 0.003 < pad_rms < 0.03  # as loud as the recording's own pause, not digital silence or speech
    digital = pad_room_tone(np.concatenate([np.zeros(SR, np.float32), x]), 1600, 0, np.random.default_rng(1))
    assert 0 < np.abs(digital[:1600]).max() < 1e-3  # a silent recording gets a -80 dBFS floor
    assert np.array_equal(pad_room_tone(x, 0, 0, rng), x)
    with pytest.raises(ValueError):
        pad_room_tone(x, -1, 0, rng)
    with pytest.raises(ValueError):
        AugmentConfig(pad_seconds=(-0.1, 0.2))
    aug = Augmenter(AugmentConfig.from_dict({**AugmentConfig.off().to_dict(), "pad_prob": 1.0,
                                             "pad_seconds": [0.1, 0.5]}))
    lengths = {len(aug(x, np.random.default_rng(seed))) - len(x) for seed in range(5)}
    assert all(0.2 * SR <= n <= 1.0 * SR for n in lengths) and len(lengths) > 1


def test_noise_files(tmp_path):
    import soundfile

    noise = (0.2 * np.random.default_rng(0).standard_normal(SR // 2)).astype(np.float32)
    soundfile.write(tmp_path / "n.wav", noise, SR)
    aug = Augmenter(AugmentConfig.from_dict({**AugmentConfig.off().to_dict(), "noise_prob": 1.0,
                                             "noise_files": [str(tmp_path / "n.wav")], "noise_colours": []}))
    x = voice()
    y = aug(x, np.random.default_rng(0))
    assert len(y) == len(x) and not np.array_equal(x, y)


def test_spec_augment():
    feats = torch.randn(200, 40)
    rng = np.random.default_rng(0)
    out = spec_augment(feats, rng, freq_masks=2, freq_mask_width=8, time_masks=2, time_mask_width=20)
    assert out.shape == feats.shape and out.dtype == feats.dtype and torch.isfinite(out).all()
    assert not torch.equal(out, feats) and torch.equal(feats, feats.clone())  # input untouched
    again = spec_augment(feats, np.random.default_rng(0), freq_masks=2, freq_mask_width=8, time_masks=2,
                         time_mask_width=20)
    assert torch.equal(out, again)
    changed_cols = (out != feats).all(dim=0).sum()
    assert changed_cols <= 16
    assert spec_augment(torch.zeros(0, 40), rng).shape == (0, 40)
    with pytest.raises(ValueError, match=r"\(T, F\)"):
        spec_augment(torch.zeros(3, 4, 5), rng)


def test_config_validation_and_round_trip():
    with pytest.raises(ValueError, match="noise_prob"):
        AugmentConfig(noise_prob=1.5)
    with pytest.raises(ValueError, match="purple"):
        AugmentConfig(noise_colours=("purple",))
    with pytest.raises(ValueError, match="unknown AugmentConfig fields"):
        AugmentConfig.from_dict({"speedy": 1})
    cfg = AugmentConfig(speeds=(0.8, 1.2))
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg


def _tone_features(hz=1000.0):
    from speech.features import FeatureConfig, FeatureExtractor
    t = np.arange(SR) / SR
    return torch.as_tensor(FeatureExtractor(FeatureConfig())((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)))


def _peak_hz(feats):
    from speech.augment import _hz_to_mel, _mel_to_hz
    centres = _mel_to_hz(np.linspace(_hz_to_mel(20.0), _hz_to_mel(7600.0), feats.shape[1] + 2)[1:-1])
    return centres[int(feats.mean(0).argmax())]


def test_vtlp_moves_formants_by_alpha():
    feats = _tone_features(1000.0)
    assert torch.equal(vtlp_warp(feats, 1.0), feats)
    assert 950 < _peak_hz(feats) < 1050
    assert 850 < _peak_hz(vtlp_warp(feats, 0.9)) < 950  # a longer vocal tract: lower formants
    assert 1050 < _peak_hz(vtlp_warp(feats, 1.1)) < 1150
    high = _tone_features(7000.0)  # above the cutoff the warp closes back to the band edge
    assert abs(_peak_hz(vtlp_warp(high, 1.1)) - _peak_hz(high)) < 250
    out = vtlp_warp(feats, 1.12)
    assert out.shape == feats.shape and out.dtype == feats.dtype and torch.isfinite(out).all()


@pytest.mark.parametrize("args, message", [((torch.zeros(3), 1.0), "(T, F)"), ((torch.zeros(4, 80), 3.0), "alpha"),
                                           ((torch.zeros(4, 80), 1.0, 20.0, 8000.0, 9000.0), "cutoff")])
def test_vtlp_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        vtlp_warp(*args)


def test_augmenter_warps_features_when_asked():
    feats = _tone_features(1000.0)
    cfg = AugmentConfig.from_dict({**AugmentConfig.off().to_dict(), "warp_prob": 1.0, "warp_factors": [1.1, 1.1]})
    out = Augmenter(cfg).features(feats, np.random.default_rng(0))
    assert torch.allclose(out, vtlp_warp(feats, 1.1))
    assert torch.equal(Augmenter(AugmentConfig.off()).features(feats, np.random.default_rng(0)), feats)
    with pytest.raises(ValueError, match="warp_factors"):
        AugmentConfig(warp_factors=(0.2, 1.1))
    with pytest.raises(ValueError, match="low end above high end"):
        AugmentConfig(warp_factors=(1.1, 0.9))


def test_channel_curve_is_smooth_bounded_and_seeded():
    rng = np.random.default_rng(3)
    curves = [channel_curve(80, 6.0, rng) for _ in range(50)]
    for c in curves:
        db = c.numpy() * 10 / np.log(10)  # back to dB
        assert c.shape == (80,) and torch.isfinite(c).all()
        assert np.abs(db).max() <= 6.0 * 4 + 1e-6  # tilt + at most 3 bumps
        assert np.abs(np.diff(db)).max() < 3.0  # smooth: no band jumps by more than a few dB
    assert np.std([c.numpy() for c in curves], axis=0).min() > 0.1  # every band is moved sometimes
    assert torch.equal(channel_curve(80, 6.0, np.random.default_rng(1)), channel_curve(80, 6.0, np.random.default_rng(1)))
    assert torch.equal(channel_curve(80, 0.0, rng), torch.zeros(80))


def test_augmenter_colours_the_channel_when_asked():
    feats = _tone_features(1000.0)
    cfg = AugmentConfig.from_dict({**AugmentConfig.off().to_dict(), "eq_prob": 1.0, "eq_db": 8.0})
    out = Augmenter(cfg).features(feats, np.random.default_rng(0))
    offset = out - feats
    assert torch.allclose(offset, offset[0].expand_as(offset), atol=1e-5)  # the same curve on every frame
    assert torch.allclose(offset[0], channel_curve(80, 8.0, _rng_after_one_draw(0)), atol=1e-5)
    assert offset.abs().max() > 0.05
    with pytest.raises(ValueError, match="eq_db"):
        AugmentConfig(eq_db=-1.0)
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg


def _rng_after_one_draw(seed):
    rng = np.random.default_rng(seed)
    rng.random()  # the eq_prob draw
    return rng


def test_coloured_noise_of_awkward_lengths_keeps_its_spectrum():
    # a prime length is shaped over a longer, fast FFT length and cut: same length, level and slope
    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 15013, 16411):
        for colour in ("pink", "brown", "blue"):
            y = coloured_noise(n, colour, rng)
            assert y.dtype == np.float32 and len(y) == n and abs(np.sqrt(np.mean(y ** 2)) - 1) < 1e-3
    slopes = {}
    for colour in ("pink", "brown", "blue"):
        y = np.concatenate([coloured_noise(16411, colour, rng) for _ in range(8)])
        slopes[colour] = band_energy(y, 100, 400) / band_energy(y, 3200, 6400)
    # power ~ 1/f (pink), 1/f^2 (brown), f (blue): the band energy ratios are ln 4 / ln 2 = 2, 48, 0.005
    assert 1.5 < slopes["pink"] < 2.7 and 30 < slopes["brown"] < 75 and slopes["blue"] < 0.01, slopes


def test_length_plan_predicts_the_augmented_length():
    cfg = AugmentConfig(pad_prob=0.7, pad_seconds=(0.0, 0.6), speed_prob=0.7, speeds=(0.9, 1.1, 1.05),
                        pitch_prob=0.2, noise_prob=0.5, reverb_prob=0.3, telephone_prob=0.3, codec_prob=0.2)
    aug = Augmenter(cfg)
    lengths = set()
    for seed in range(30):
        x = voice(0.3 + 0.05 * seed, seed)
        plan = aug.plan(np.random.default_rng([seed, 2]))
        y = aug(x, np.random.default_rng(seed), plan=plan)
        assert len(y) == Augmenter.output_length(len(x), plan)
        lengths.add(len(y) - len(x))
        # without a plan the length steps are drawn from the same generator first: still seeded
        assert np.array_equal(aug(x, np.random.default_rng(seed)), aug(x, np.random.default_rng(seed)))
    assert len(lengths) > 10  # padding and speed really vary
    assert Augmenter.output_length(0, aug.plan(np.random.default_rng(0))) == 0
