"""Closed phrase lists (command mode): exact CTC scores, rejection, streaming, spans, errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from speech.decoder import PhraseDecoder
from speech.vocab import Alphabet
from tests.test_decoder import chunks, emissions, spelled
from tests.test_recognizer import make_recognizer, noise

ALPHABET = Alphabet()
COMMANDS = ["yes", "no", "stop", "turn on the light", "turn off the light", "bee", "be"]


def torch_ctc_log_prob(log_probs, text):
    target = torch.tensor([ALPHABET.encode(text)])
    lp = torch.from_numpy(np.asarray(log_probs, dtype=np.float64))[:, None]
    loss = F.ctc_loss(lp, target, torch.tensor([lp.shape[0]]), torch.tensor([target.shape[1]]), reduction="sum")
    return -float(loss)


def test_phrase_scores_are_exact_ctc_probabilities():
    rng = np.random.default_rng(3)
    lp = torch.log_softmax(torch.from_numpy(rng.normal(0, 2, (45, len(ALPHABET)))), -1).numpy()
    stream = PhraseDecoder(ALPHABET, COMMANDS).stream()
    for piece in chunks(lp, rng):
        stream.advance(piece)
    for phrase, score in zip(stream.decoder.phrases, stream._scores()):
        assert score == pytest.approx(torch_ctc_log_prob(lp, phrase), abs=1e-6), phrase


@pytest.mark.parametrize("said", ["stop", "turn off the light", "be", "bee"])
def test_the_spoken_phrase_wins_with_high_confidence(said):
    hyps = PhraseDecoder(ALPHABET, COMMANDS).decode(spelled(said, noise=0.5))
    assert hyps[0].text == said
    assert hyps[0].confidence > 0.9
    assert [w.word for w in hyps[0].words] == said.split()
    assert hyps[1].text != said and hyps[1].confidence < 0.1


def test_something_else_is_rejected_and_the_closest_phrases_are_alternatives():
    hyps = PhraseDecoder(ALPHABET, COMMANDS, n_best=3).decode(spelled("open the window"))
    assert hyps[0].text == "" and hyps[0].confidence > 0.9
    assert len(hyps) == 3 and all(h.text in COMMANDS for h in hyps[1:])
    # a huge margin accepts the closest phrase instead
    assert PhraseDecoder(ALPHABET, COMMANDS, reject_margin=1e6).decode(spelled("open the window"))[0].text in COMMANDS


def test_word_spans_follow_the_alignment():
    frames = list("__yy_e__s") + ["_"] * 6 + list("nnn_o") + ["_"] * 3
    hyp = PhraseDecoder(ALPHABET, ["yes no", "no"]).decode(emissions(frames))[0]
    assert hyp.text == "yes no"
    # "yes no" needs a space between the words; the matrix has none, so its best path spends a
    # blank frame on it: spans still cover the letters where they were spoken
    yes, no = hyp.words
    assert (yes.start_frame, yes.end_frame) == (2, 8)
    assert (no.start_frame, no.end_frame) == (15, 19)


def test_stream_partials_and_chunking_equal_one_shot():
    lp = spelled("turn on the light", rng=np.random.default_rng(5), noise=1.0)
    decoder = PhraseDecoder(ALPHABET, COMMANDS)
    whole = decoder.decode(lp)
    stream = decoder.stream()
    for piece in chunks(lp, np.random.default_rng(1)):
        stream.advance(piece)
        text, stable = stream.partial()
        assert stable == 0 and text in COMMANDS + [""]
    assert stream.partial()[0] == whole[0].text == "turn on the light"
    final = stream.finalize()
    assert [h.text for h in final] == [h.text for h in whole]
    assert [h.score for h in final] == pytest.approx([h.score for h in whole])


def test_too_short_for_every_phrase_and_no_frames():
    decoder = PhraseDecoder(ALPHABET, ["turn on the light"])
    assert decoder.decode(emissions("__a"))[0].text == ""  # 3 frames cannot hold 17 characters
    assert decoder.decode(np.zeros((0, len(ALPHABET))))[0].text == ""


@pytest.mark.parametrize(
    "phrases, kwargs, message",
    [
        ("yes", {}, "not one string"),
        (None, {}, "not None"),
        ([], {}, "at least one phrase"),
        (["yes", 3], {}, "not a string"),
        (["  "], {}, "empty"),
        (["café"], {}, "outside the alphabet"),
        (["a" * 201], {}, "longer than 200"),
        (["yes"], {"reject_margin": float("nan")}, "reject_margin"),
        (["yes"], {"n_best": 0}, "n_best"),
    ],
)
def test_bad_phrase_lists(phrases, kwargs, message):
    with pytest.raises(ValueError, match=message):
        PhraseDecoder(ALPHABET, phrases, **kwargs)


def test_phrases_cannot_take_hot_words():
    with pytest.raises(ValueError, match="hot words"):
        PhraseDecoder(ALPHABET, ["yes"]).stream(hotwords=["no"])


# ------------------------------------------------------------------------ through the recognizer


def test_recognizer_phrases_offline_streamed_and_normalised():
    rec = make_recognizer()
    audio = noise()
    phrases = ["Seven!", "turn ON the light", "3", "yes"]
    offline = rec.transcribe(audio, phrases=phrases)
    assert offline.text in {"seven", "turn on the light", "three", "yes", ""}
    assert {a.text for a in offline.alternatives} <= {"seven", "turn on the light", "three", "yes", ""}
    stream, pos = rec.stream(phrases=phrases), 0
    while pos < audio.size:
        stream.feed(audio[pos : pos + 2500])
        pos += 2500
    final = stream.finish()
    assert (final.text, [a.text for a in final.alternatives]) == (offline.text, [a.text for a in offline.alternatives])
    assert final.confidence == pytest.approx(offline.confidence, abs=1e-4)
    # a margin this large always picks a phrase
    assert make_recognizer(phrase_margin=1e6).transcribe(audio, phrases=phrases).text != ""


def test_recognizer_phrase_errors():
    rec = make_recognizer()
    with pytest.raises(ValueError, match="not both"):
        rec.transcribe(noise(), hotwords=["yes"], phrases=["no"])
    with pytest.raises(ValueError, match="phrases must be a list"):
        rec.stream(phrases="yes")
    with pytest.raises(ValueError, match="at least one phrase"):
        rec.stream(phrases=[])
    with pytest.raises(ValueError, match="reject_margin"):
        make_recognizer(phrase_margin=float("inf"))


def test_phrase_margin_is_saved_with_the_model(tmp_path):
    from speech import Recognizer

    path = make_recognizer(phrase_margin=2.5).save(tmp_path / "m.pt")
    assert Recognizer.load(path).phrase_margin == 2.5
    assert Recognizer.load(path, phrase_margin=7.0).phrase_margin == 7.0


def test_write_decoding_updates_only_the_settings(tmp_path):
    from speech import Recognizer
    from speech.recognizer import write_decoding

    path = make_recognizer().save(tmp_path / "m.pt")
    before = Recognizer.load(path)
    write_decoding(path, {"phrase_margin": 6.0})
    after = Recognizer.load(path)
    assert after.phrase_margin == 6.0 and after.beam_size == before.beam_size
    audio = noise()
    assert after.transcribe(audio).text == before.transcribe(audio).text
    with pytest.raises(ValueError, match="unknown decoding settings"):
        write_decoding(path, {"margin": 1.0})
    with pytest.raises(ValueError, match="reject_margin"):
        write_decoding(path, {"phrase_margin": float("nan")})
    assert Recognizer.load(path).phrase_margin == 6.0  # the failed writes left the file alone
    assert not (tmp_path / "m.pt.tmp").exists()
