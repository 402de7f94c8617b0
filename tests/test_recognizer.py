"""Recognizer bundle: streaming == offline, batched == single, save -> load identity, clear errors."""
import numpy as np
import pytest
import torch

from speech import AcousticConfig, AcousticModel, Alphabet, FeatureConfig, Recognizer
from speech.lm import NGramLM
from speech.train import cer


def make_recognizer(seed=0, cell="lstm", **options) -> Recognizer:
    torch.manual_seed(seed)
    alphabet = Alphabet()
    model = AcousticModel(AcousticConfig(hidden=24, layers=2, cell=cell, vocab_size=len(alphabet)))
    # A peaked output layer with blank pushed down, so an untrained model still emits varied characters.
    with torch.no_grad():
        model.output.weight.mul_(8.0)
        model.output.bias[alphabet.BLANK] -= 2.0
    return Recognizer(model, alphabet, FeatureConfig(), **options)


def noise(seconds=1.2, seed=1):
    rng = np.random.default_rng(seed)
    return (0.2 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)


@pytest.mark.parametrize("beam", [1, 4])
@pytest.mark.parametrize("cell", ["lstm", "gru", "lstm_peephole"])
def test_streamed_equals_offline(beam, cell):
    rec = make_recognizer(cell=cell, beam_size=beam)
    audio = noise()
    offline = rec.transcribe(audio)
    rng = np.random.default_rng(7)
    stream, pos = rec.stream(), 0
    while pos < audio.size:
        step = int(rng.integers(1, 4000))
        partial = stream.feed(audio[pos : pos + step])
        assert 0 <= partial.stable_chars <= len(partial.text)
        pos += step
    final = stream.finish()
    assert offline.text, "the peaked test model should emit something"
    assert final.text == offline.text
    assert final.confidence == pytest.approx(offline.confidence, abs=1e-4)
    assert [w.word for w in final.words] == [w.word for w in offline.words]


def test_feed_many_equals_separate_streams():
    rec = make_recognizer(beam_size=1)
    audios = [noise(1.0, seed=s) for s in range(3)]
    chunks = [160, 1600, 3200]  # different chunk sizes per stream, like clients with different frame sizes
    batched = [rec.stream() for _ in audios]
    alone = [rec.stream() for _ in audios]
    for start in range(0, 16000, 3200):
        work = []
        for k, audio in enumerate(audios):
            piece = audio[start : start + chunks[k]]
            work.append((batched[k], piece))
            alone[k].feed(piece)
        rec.feed_many(work)
    for b, a in zip(batched, alone):
        assert b.finish().text == a.finish().text


def test_words_have_ordered_times_within_audio():
    rec = make_recognizer(beam_size=1)
    audio = noise(2.0)
    t = rec.transcribe(audio)
    assert t.duration == pytest.approx(2.0)
    for w in t.words:
        assert 0 <= w.start < w.end <= t.duration + rec.frame_shift
        assert 0 <= w.confidence <= 1
    assert 0 <= t.confidence <= 1
    data = t.to_dict()
    assert set(data) == {"text", "confidence", "duration", "words", "alternatives"}


def test_save_load_identity(tmp_path):
    rec = make_recognizer(beam_size=4)
    path = rec.save(tmp_path / "model.pt")
    again = Recognizer.load(path, beam_size=4)
    audio = noise()
    assert again.transcribe(audio).text == rec.transcribe(audio).text
    np.testing.assert_allclose(again.log_probs(audio), rec.log_probs(audio), atol=1e-6)
    assert torch.load(path, weights_only=True)["format"] == "speech-ctc"


def test_lm_found_next_to_checkpoint(tmp_path):
    rec = make_recognizer()
    rec.save(tmp_path / "m.pt")
    NGramLM.build(["turn on the lights", "what time is it"], order=2).save_arpa(tmp_path / "m.arpa")
    assert "lights" in Recognizer.load(tmp_path / "m.pt").lm


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="give a checkpoint path or one of"):
        Recognizer.load("klingon")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a readable speech checkpoint"):
        Recognizer.load(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(ValueError, match="not a speech checkpoint"):
        Recognizer.load(other)


def test_bad_input_is_refused():
    rec = make_recognizer()
    with pytest.raises(ValueError, match="empty"):
        rec.transcribe(np.zeros(0, dtype=np.float32))
    with pytest.raises(ValueError):
        rec.transcribe(np.zeros((2, 1600), dtype=np.float32))  # stereo
    with pytest.raises(ValueError):
        rec.transcribe(np.full(1600, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="list of phrases"):
        rec.stream(hotwords="hello")
    with pytest.raises(ValueError, match="beam_size"):
        make_recognizer(beam_size=0)
    stream = rec.stream()
    stream.feed(noise(0.2))
    stream.finish()
    with pytest.raises(ValueError, match="finished"):
        stream.feed(noise(0.1))


def test_hotwords_are_normalised_and_validated():
    rec = make_recognizer(beam_size=4)
    audio = noise(0.5)
    assert rec.transcribe(audio, hotwords=["Alexa!", "Turn ON"]).text is not None
    with pytest.raises(ValueError, match="not a string"):
        rec.transcribe(audio, hotwords=[42])
    with pytest.raises(ValueError, match="empty"):
        rec.transcribe(audio, hotwords=["?!"])


def test_end_pad_is_decoded_but_not_counted_as_audio():
    """The end pad lets a one-way model emit its last letters: transcribe(audio) reads audio + pad, and
    the transcript's duration and word times still describe the audio alone."""
    padded = make_recognizer(beam_size=1, end_pad=0.3)
    plain = make_recognizer(beam_size=1, end_pad=0.0)
    audio = noise(1.0)
    assert padded.end_padding().size == 4800 and np.abs(padded.end_padding()).max() < 1e-3
    assert padded.log_probs(audio).shape[0] == plain.log_probs(np.concatenate([audio, padded.end_padding()])).shape[0]
    assert padded.log_probs(audio).shape[0] > plain.log_probs(audio).shape[0]
    t = padded.transcribe(audio)
    assert t.text == plain.transcribe(np.concatenate([audio, padded.end_padding()])).text
    assert t.duration == pytest.approx(1.0)
    assert all(0 <= w.start <= w.end <= t.duration for w in t.words)
    stream = padded.stream()
    stream.feed(audio)
    final = stream.finish()
    assert final.text == t.text and final.duration == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [-0.1, 2.5, float("nan"), "0.1", True])
def test_bad_end_pad_is_a_value_error(bad):
    with pytest.raises(ValueError, match="end_pad"):
        make_recognizer(end_pad=bad)
    rec = make_recognizer()
    rec.end_pad = bad
    with pytest.raises(ValueError, match="end_pad"):
        rec.transcribe(noise(0.5))


def test_end_pad_is_saved_with_the_model(tmp_path):
    path = make_recognizer(end_pad=0.4).save(tmp_path / "m.pt")
    assert Recognizer.load(path).end_pad == 0.4
    assert Recognizer.load(path, end_pad=0.0).end_pad == 0.0


@pytest.mark.parametrize("cell", ["lstm", "gru", "lstm_peephole"])
def test_int8_runs_close_to_the_float_model(cell):
    exact = make_recognizer(cell=cell, beam_size=1)
    fast = make_recognizer(cell=cell, beam_size=1, quantize=True)
    audio = noise()
    a, b = exact.log_probs(audio), fast.log_probs(audio)
    assert a.shape == b.shape
    assert np.abs(a - b).max() < 0.5  # int8 weights: close, not equal
    assert (a.argmax(1) == b.argmax(1)).mean() > 0.9
    assert np.abs(a - b).max() > 0, "the weights should really be int8"
    if cell != "lstm_peephole":  # our own cell quantizes its linear layers; torch's LSTM/GRU are swapped whole
        assert "quantized" in type(fast.model.rnn).__module__
    assert fast.float_model.output.weight.dtype == torch.float32  # the float model is kept, untouched


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_int8_scales_each_weight_row_so_one_large_row_does_not_spoil_the_rest(cell):
    from speech.recognizer import _int8

    rec = make_recognizer(cell=cell, beam_size=1)
    with torch.no_grad():
        for p in rec.float_model.parameters():
            if p.dim() == 2:
                p[0].mul_(30.0)  # one outlier row in every weight matrix
    audio = noise()
    exact = rec.log_probs(audio)
    drift = {}
    for per_channel in (False, True):
        rec._model = _int8(rec.float_model, per_channel=per_channel)
        drift[per_channel] = np.abs(rec.log_probs(audio) - exact).mean()
    assert drift[True] < drift[False] / 3, drift  # one scale per matrix would be set by the outlier row


def test_int8_streams_close_to_offline_and_saves_the_float_weights(tmp_path):
    fast = make_recognizer(beam_size=4, quantize=True)
    audio = noise()
    stream = fast.stream()
    for start in range(0, audio.size, 1600):
        stream.feed(audio[start : start + 1600])
    # int8 activations are scaled per model call, so a stream's chunks can round differently from one
    # offline pass: close, not always equal.
    assert cer(fast.transcribe(audio).text, stream.finish().text) < 0.3
    path = fast.save(tmp_path / "model.pt")
    exact = make_recognizer(beam_size=4)
    as_float = Recognizer.load(path, quantize=False)
    np.testing.assert_allclose(as_float.log_probs(audio), exact.log_probs(audio), atol=1e-6)
    again = Recognizer.load(path)  # the checkpoint remembers that this recognizer ran int8
    assert again.quantize and not as_float.quantize
    np.testing.assert_allclose(again.log_probs(audio), fast.log_probs(audio), atol=1e-5)


def test_quantize_stored_in_a_checkpoint_is_checked_and_can_be_overridden(tmp_path):
    from speech.recognizer import write_decoding

    path = make_recognizer(beam_size=1).save(tmp_path / "m.pt")
    assert not Recognizer.load(path).quantize
    write_decoding(path, {"quantize": True})
    assert Recognizer.load(path).quantize
    assert not Recognizer.load(path, quantize=False).quantize
    with pytest.raises(ValueError, match="quantize must be true or false"):
        write_decoding(path, {"quantize": 1})
    assert Recognizer.load(path).quantize  # the bad value never reached the file


def test_int8_falls_back_to_float_where_torch_has_no_quantized_engine(monkeypatch, caplog):
    import speech.recognizer as recognizer_module

    def no_engine(model, per_channel=True):
        raise RuntimeError("Didn't find engine for operation quantized::linear_prepack NoQEngine")

    monkeypatch.setattr(recognizer_module, "_int8", no_engine)
    with caplog.at_level("WARNING", logger="speech.recognizer"):
        rec = make_recognizer(beam_size=1, quantize=True)
    assert not rec.quantize and rec.model is rec.float_model
    assert "int8 weights are not available" in caplog.text
    assert rec.transcribe(noise()).text == make_recognizer(beam_size=1).transcribe(noise()).text


def test_quantize_must_be_a_bool():
    with pytest.raises(ValueError, match="quantize must be True or False"):
        make_recognizer(quantize="yes")


def test_a_model_assigned_to_an_int8_recognizer_runs_int8_and_saves_float(tmp_path):
    fast, other = make_recognizer(quantize=True), make_recognizer(seed=3)
    fast.model = other.model
    assert "quantized" in type(fast.model.rnn).__module__
    audio = noise()
    np.testing.assert_allclose(Recognizer.load(fast.save(tmp_path / "m.pt"), quantize=False).log_probs(audio),
                               other.log_probs(audio), atol=1e-6)


def _speechlike(seconds, seed):
    t = np.arange(int(seconds * 16000)) / 16000
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.3 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    voice = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.3 + 0.7 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (0.25 * voice / np.abs(voice).max()).astype(np.float32)


@pytest.mark.slow
def test_deferred_search_gives_the_same_finals_with_greedy_partials():
    """The server's fast path: greedy partials now, the beam search (+ LM) later from decode_pending()
    or finish(). The finals are the same as the beam search fed every chunk (shipped model, int8,
    batched streams), whenever the pending frames are decoded."""
    from speech.decoder import GreedyDecoder

    rec = Recognizer.load("en")
    assert rec.beam_size > 1 and rec.lm is not None
    clips = [np.concatenate([np.zeros(3000, np.float32), _speechlike(1.0 + 0.3 * i, i), np.zeros(4000, np.float32)])
             for i in range(3)] + [noise(1.5, seed=4)]
    plain = [rec.stream() for _ in clips]
    deferred = [rec.stream(defer_search=True) for _ in clips]
    greedy = [GreedyDecoder(rec.alphabet).stream() for _ in clips]
    assert all(s.deferred for s in deferred) and not any(s.deferred for s in plain)
    for k in range(0, max(c.size for c in clips), 1600):  # 100 ms frames, all streams in one batch
        chunks = [c[k:k + 1600] if c.size > k else np.zeros(1600, np.float32) for c in clips]
        a = rec.feed_many(list(zip(plain, chunks)))
        b = rec.feed_many(list(zip(deferred, chunks)))
        for pa, pb, g in zip(a, b, greedy):
            assert np.array_equal(pa.blank_probs, pb.blank_probs)  # the same acoustic output
            assert pb.stable_chars == 0
        if k % 4800 == 0:
            for s in deferred[:2]:
                s.decode_pending()  # as the server's decoder thread does, at any time
    assert any(s.pending_frames for s in deferred)
    for s, d in zip(plain, deferred):
        assert s.finish().to_dict() == d.finish().to_dict()
    only_greedy = Recognizer.load("en", beam_size=1, lm=None)
    only_greedy.lm = None
    assert not only_greedy.stream(defer_search=True).deferred  # nothing to defer


def test_min_confidence_empties_a_guess_and_is_stored_with_the_model(tmp_path):
    rec = make_recognizer(beam_size=4)
    audio = noise()
    guess = rec.transcribe(audio)
    assert guess.text  # the untrained model "hears" letters in loud noise
    strict = make_recognizer(beam_size=4, min_confidence=min(0.999, guess.confidence + 1e-3))
    rejected = strict.transcribe(audio)
    assert rejected.text == "" and rejected.words == [] and rejected.confidence == 0.0
    assert rejected.alternatives[0].text == guess.text  # what it heard stays inspectable
    stream = strict.stream()
    stream.feed(audio)
    assert stream.finish().text == ""
    lenient = make_recognizer(beam_size=4, min_confidence=max(0.0, guess.confidence - 1e-3))
    assert lenient.transcribe(audio).text == guess.text
    path = tmp_path / "m.pt"
    strict.save(path)
    assert Recognizer.load(path, lm=None).min_confidence == strict.min_confidence
    for bad in (-0.1, 1.0, "0.5", True):
        with pytest.raises(ValueError, match="min_confidence"):
            make_recognizer(min_confidence=bad)
