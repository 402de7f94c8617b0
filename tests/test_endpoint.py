"""End-of-speech detection on generated audio: silence/noise, a speech-like signal, silence."""
import numpy as np
import pytest

from speech.endpoint import EndpointConfig, Endpointer, EndpointEvent

SR = 16000
SPEECH_DB = -20.0  # RMS level of the speech-like signal, dBFS


def speechlike(seconds, level_db=SPEECH_DB):
    """Harmonic tone (a voice at ~130 Hz with 11 harmonics) amplitude-modulated at a 4 Hz syllable rate."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 130 + 15 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.55 - 0.45 * np.cos(2 * np.pi * 4.0 * t)  # syllables: dips to 0.1 between them
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    x = x * envelope * ramp
    return x * 10 ** (level_db / 20) / np.sqrt(np.mean(x**2))


def scene(snr_db=None, lead=1.0, speech=1.5, tail=1.5, seed=0):
    """`lead` s of silence, `speech` s of speech, `tail` s of silence; white noise at `snr_db` below the speech."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.zeros(int(lead * SR)), speechlike(speech), np.zeros(int(tail * SR))])
    if snr_db is not None:
        x = x + rng.normal(size=x.size) * 10 ** ((SPEECH_DB - snr_db) / 20)
    return x.astype(np.float32)


def blank_track(seconds, speech_from, speech_to, frame_ms=30.0):
    """CTC blank probabilities per model frame: characters (low blank) every third frame inside the speech."""
    n = int(seconds * 1000 / frame_ms)
    centers = (np.arange(n) + 0.5) * frame_ms
    inside = (centers > speech_from) & (centers < speech_to)
    return np.where(inside & (np.arange(n) % 3 == 0), 0.2, 0.995)


def kinds(events):
    return [e.kind for e in events]


@pytest.mark.parametrize(
    "sensitivity, snr_db",
    [("medium", None), ("medium", 30), ("medium", 20), ("medium", 10), ("low", 20), ("high", 10), ("high", 5)],
)
def test_speech_between_silences(sensitivity, snr_db):
    events = Endpointer(EndpointConfig(sensitivity=sensitivity)).feed(scene(snr_db))
    assert kinds(events) == ["speech_started", "speech_stopped"]
    start, stop = events
    assert start.audio_ms == pytest.approx(1000, abs=100)
    assert start.detected_ms == pytest.approx(start.audio_ms + 150, abs=400)  # needs min_speech_ms of voice first
    assert stop.audio_ms == pytest.approx(2500, abs=100)
    assert stop.detected_ms == pytest.approx(stop.audio_ms + 700, abs=1)  # silence_ms after the last voice
    assert stop.reason == "silence"


def test_silence_ms_is_configurable():
    events = Endpointer(EndpointConfig.preset("medium", silence_ms=300)).feed(scene(30))
    assert events[1].detected_ms == pytest.approx(events[1].audio_ms + 300, abs=1)


@pytest.mark.parametrize("sensitivity", ["low", "medium", "high"])
@pytest.mark.parametrize("level_db", [-60.0, -40.0, -25.0])
def test_noise_alone_gives_no_event(sensitivity, level_db):
    rng = np.random.default_rng(1)
    white = rng.normal(size=4 * SR)
    brown = np.cumsum(rng.normal(size=4 * SR))
    brown -= np.convolve(brown, np.ones(801) / 801, mode="same")  # remove the drift: rumbling low-frequency noise
    for noise in (white, brown):
        noise = noise * 10 ** (level_db / 20) / np.sqrt(np.mean(noise**2))
        endpointer = Endpointer(EndpointConfig(sensitivity=sensitivity))
        assert endpointer.feed(noise.astype(np.float32)) == []
        assert not endpointer.in_speech
    assert Endpointer().feed(np.zeros(3 * SR, np.float32)) == []


def test_events_do_not_depend_on_chunking():
    x = scene(20, tail=2.0)
    whole = Endpointer().feed(x)
    rng = np.random.default_rng(2)
    for max_chunk in (7, 37, 160, 4000):
        endpointer, events, pos = Endpointer(), [], 0
        while pos < x.size:
            n = int(rng.integers(0, max_chunk + 1))
            events += endpointer.feed(x[pos : pos + n])
            pos += n
        assert events == whole


def test_two_utterances_in_one_stream():
    x = np.concatenate([scene(30, tail=1.2, seed=3), scene(30, lead=0.0, speech=1.0, seed=4)])
    events = Endpointer().feed(x)
    assert kinds(events) == ["speech_started", "speech_stopped"] * 2
    assert events[2].audio_ms == pytest.approx(3700, abs=100)
    assert events[3].audio_ms == pytest.approx(4700, abs=100)


def test_blank_evidence_ends_speech_in_steady_noise():
    # Speech, then loud noise at the speech's level: the energy never drops, but the model hears no characters.
    rng = np.random.default_rng(5)
    x = np.concatenate([np.zeros(SR), speechlike(1.5), rng.normal(size=3 * SR) * 0.1])
    x = (x + rng.normal(size=x.size) * 1e-3).astype(np.float32)
    blanks = blank_track(x.size / SR, 1000, 2500)
    assert kinds(Endpointer().feed(x)) == ["speech_started"]  # energy alone: still "speaking"
    events = Endpointer().feed(x, blanks)
    assert kinds(events) == ["speech_started", "speech_stopped"]  # and no restart in the same noise
    stop = events[1]
    assert stop.reason == "blank"
    assert stop.audio_ms == pytest.approx(2500, abs=100)
    assert stop.detected_ms == pytest.approx(stop.audio_ms + 1500, abs=60)


def test_blank_evidence_confirms_silence_sooner():
    x = scene(30)
    blanks = blank_track(x.size / SR, 1000, 2500)
    energy_only = Endpointer().feed(x)
    with_blanks = Endpointer().feed(x, blanks)
    assert with_blanks[1].reason == "silence+blank"
    assert with_blanks[1].audio_ms == energy_only[1].audio_ms
    assert with_blanks[1].detected_ms == pytest.approx(with_blanks[1].audio_ms + 0.7 * 700, abs=60)
    assert with_blanks[1].detected_ms < energy_only[1].detected_ms


def test_blank_mode_does_not_depend_on_chunking():
    # Model frames arrive late (like a real model: ~45 ms behind the audio) and in uneven groups.
    x = scene(20, seed=6)
    blanks = blank_track(x.size / SR, 1000, 2500)
    whole = Endpointer().feed(x, blanks)
    rng = np.random.default_rng(7)
    for max_chunk in (160, 1000, 5000):
        endpointer, events, pos, given = Endpointer(), [], 0, 0
        while pos < x.size:
            n = int(rng.integers(1, max_chunk + 1))
            pos += n
            ready = min(max(int((pos / SR * 1000 - 45) // 30), given), blanks.size)
            events += endpointer.feed(x[pos - n : pos], blanks[given:ready])
            given = ready
        events += endpointer.feed(np.zeros(0, np.float32), blanks[given:])
        assert events == whole


def test_max_speech_ms():
    x = np.concatenate([np.zeros(SR // 2), speechlike(3.0)]).astype(np.float32)
    events = Endpointer(EndpointConfig(max_speech_ms=1000)).feed(x)
    assert events[1] == EndpointEvent("speech_stopped", pytest.approx(1500, abs=100), pytest.approx(1500, abs=100),
                                      "max_speech")


def test_presets_and_overrides():
    low, high = EndpointConfig.preset("low"), EndpointConfig.preset("high")
    assert low.start_db > EndpointConfig().start_db > high.start_db
    assert low.min_speech_ms > high.min_speech_ms
    tuned = EndpointConfig.preset("high", silence_ms=500, start_db=8)
    assert (tuned.sensitivity, tuned.silence_ms, tuned.start_db, tuned.stop_db) == ("high", 500, 8, high.stop_db)
    assert EndpointConfig.from_dict(tuned.to_dict()) == tuned
    with pytest.raises(Exception):
        tuned.silence_ms = 100  # frozen


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: EndpointConfig(sensitivity="loud"), "sensitivity must be one of 'low', 'medium', 'high', got 'loud'"),
        (lambda: EndpointConfig.preset("medium", silence=5), r"unknown endpoint setting\(s\) \['silence'\]; valid: "),
        (lambda: EndpointConfig(silence_ms=0), "silence_ms must be > 0, got 0"),
        (lambda: EndpointConfig(silence_ms="700"), "silence_ms must be a finite number"),
        (lambda: EndpointConfig(start_db=3, stop_db=5), r"stop_db \(5.0\) must not exceed start_db \(3.0\)"),
        (lambda: EndpointConfig(blank_threshold=1.5), r"blank_threshold must be in \(0, 1\]"),
        (lambda: EndpointConfig.from_dict({"mode": "x"}), "unknown endpoint setting"),
        (lambda: Endpointer(sample_rate=16001), "not a whole number of samples"),
        (lambda: Endpointer().feed(np.zeros(10, np.int16)), "floating point"),
        (lambda: Endpointer().feed(np.zeros((10, 2), np.float32)), "1-D"),
        (lambda: Endpointer().feed(np.full(10, np.nan, np.float32)), "NaN"),
        (lambda: Endpointer().feed(np.zeros(10, np.float32), [2.0]), r"probabilities in \[0, 1\]"),
    ],
)
def test_bad_settings_and_input(make, message):
    with pytest.raises(ValueError, match=message):
        make()
