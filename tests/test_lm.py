"""Word n-gram LM: Kneser-Ney estimate is a proper distribution, ARPA round trip, backoff, vocabulary."""
import math
import random

import pytest

from speech.lm import NGramLM

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the cat",
    "turn on the lights",
    "turn off the lights in the kitchen",
    "what is the weather like today",
    "what time is it",
    "set a timer for ten minutes",
    "play some music",
]


@pytest.fixture(scope="module")
def lm():
    return NGramLM.build(CORPUS, order=3)


def _vocab(model):
    return [w for w in model.vocab if w != "<s>"]


@pytest.mark.parametrize("context", [(), ("<s>",), ("the",), ("<s>", "the"), ("the", "cat"), ("on", "the"),
                                     ("zebra",), ("cat", "zebra"), ("<s>", "turn")])
def test_every_context_gives_a_distribution(lm, context):
    total = sum(10 ** lm.score(w, context) for w in _vocab(lm))
    assert total == pytest.approx(1.0, abs=1e-9)


def test_orders_one_two_four_are_distributions_too():
    for order in (1, 2, 4):
        model = NGramLM.build(CORPUS, order=order)
        assert model.order == order
        for context in [(), ("<s>",), ("the", "cat", "sat"), ("on", "the")]:
            total = sum(10 ** model.score(w, context) for w in _vocab(model))
            assert total == pytest.approx(1.0, abs=1e-9)


def test_seen_continuations_beat_unseen(lm):
    assert lm.score("sat", ("the", "cat")) > lm.score("lights", ("the", "cat"))
    assert lm.score("lights", ("turn", "on", "the")) > lm.score("mat", ("turn", "on", "the"))  # long context cut
    assert lm.sentence_logprob("the cat sat on the mat") > lm.sentence_logprob("mat the on sat cat the")


def test_unknown_words_score_as_unk(lm):
    assert "zebra" not in lm and "cat" in lm and "<unk>" in lm
    assert lm.score("zebra", ("the",)) == lm.score("<unk>", ("the",))
    assert lm.score("zebra", ("the",)) < lm.score("cat", ("the",))
    assert math.isfinite(lm.score("cat", ("zebra", "okapi")))


def test_kneser_ney_continuation_counts():
    # "francisco" is frequent but only ever follows "san": as a unigram (continuation) it is rarer than
    # "glasses", which follows many words. That is the point of Kneser-Ney.
    sents = ["san francisco"] * 20 + [f"{w} glasses" for w in ("my", "his", "her", "new", "old")] + ["the sun"] * 3
    model = NGramLM.build(sents, order=2)
    assert model.score("francisco", ("the",)) < model.score("glasses", ("the",))
    assert model.score("francisco", ("san",)) > model.score("glasses", ("san",))


def test_arpa_round_trip(lm, tmp_path):
    path = tmp_path / "lm.arpa"
    lm.save_arpa(path)
    text = path.read_text()
    assert text.lstrip().startswith("\\data\\") and "\\1-grams:" in text and "\\3-grams:" in text
    assert text.rstrip().endswith("\\end\\")
    loaded = NGramLM.load_arpa(path)
    assert loaded.order == 3 and loaded.vocab == lm.vocab
    for sentence in CORPUS + ["the zebra sat on the cat", "lights"]:
        assert loaded.sentence_logprob(sentence) == pytest.approx(lm.sentence_logprob(sentence), abs=1e-5)
    for context in [(), ("<s>",), ("the", "cat"), ("zebra", "the")]:
        for w in _vocab(lm):
            assert loaded.score(w, context) == pytest.approx(lm.score(w, context), abs=1e-5)
    # Written again, the file is identical; the string form (checkpoints) and gzip read back the same.
    again = tmp_path / "again.arpa"
    loaded.save_arpa(again)
    assert again.read_text() == text
    assert NGramLM.from_arpa(lm.to_arpa()).to_arpa() == text
    lm.save_arpa(tmp_path / "lm.arpa.gz")
    assert NGramLM.load_arpa(tmp_path / "lm.arpa.gz").to_arpa() == text


def test_reads_an_external_arpa_file_with_backoff(tmp_path):
    # A hand-written model in the standard layout (comments before \data\, no <unk>).
    arpa = """Some tool wrote this.

\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0\t<s>\t-0.5
-0.5\t</s>
-0.3\thello\t-0.2
-0.6\tworld

\\2-grams:
-0.1\t<s> hello
-0.2\thello world

\\end\\
"""
    path = tmp_path / "ext.arpa"
    path.write_text(arpa)
    model = NGramLM.load_arpa(path)
    assert model.order == 2
    assert model.score("hello", ("<s>",)) == pytest.approx(-0.1)
    assert model.score("world", ("hello",)) == pytest.approx(-0.2)
    assert model.score("</s>", ("hello",)) == pytest.approx(-0.2 + -0.5)  # backoff(hello) + p(</s>)
    assert model.score("world", ("world",)) == pytest.approx(-0.6)  # no backoff stored: 0
    assert model.score("nope", ()) < -0.6  # no <unk> in the file: below the rarest word, not -99


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no \\\\data\\\\"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\thello\n", "truncated"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\nminus-one\thello\n\\end\\\n", "bad 1-gram line"),
        ("\\data\\\nngram x\n", "bad header line"),
    ],
)
def test_bad_arpa_files(tmp_path, text, message):
    path = tmp_path / "bad.arpa"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        NGramLM.load_arpa(path)


def test_missing_arpa_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.arpa"):
        NGramLM.load_arpa(tmp_path / "nope.arpa")


def test_bad_build_arguments():
    with pytest.raises(ValueError, match="order"):
        NGramLM.build(CORPUS, order=0)
    with pytest.raises(ValueError, match="no sentences"):
        NGramLM.build(["", "   "])
    with pytest.raises(ValueError, match="not one string"):
        NGramLM.build("the cat sat")
    with pytest.raises(ValueError, match="reserved"):
        NGramLM.build(["the </s> cat"])


def test_prefix_in_vocab(lm):
    assert lm.prefix_in_vocab("") and lm.prefix_in_vocab("wea") and lm.prefix_in_vocab("weather")
    assert not lm.prefix_in_vocab("weathers") and not lm.prefix_in_vocab("xq")
    assert not lm.prefix_in_vocab("<") and not lm.prefix_in_vocab("<unk")  # special tokens are not words


def test_larger_vocabulary_builds_and_loads(tmp_path):
    # Enough to exercise the dict-based counting at scale without slowing the suite: ~20k-word vocabulary, 8k sentences.
    rng = random.Random(0)
    words = [f"w{i}" for i in range(20000)]
    cum, total = [], 0.0
    for i in range(len(words)):
        total += 1.0 / (i + 1)
        cum.append(total)
    sentences = [" ".join(rng.choices(words, cum_weights=cum, k=rng.randint(3, 10))) for _ in range(8000)]
    model = NGramLM.build(sentences, order=3)
    path = tmp_path / "big.arpa"
    model.save_arpa(path)
    loaded = NGramLM.load_arpa(path)
    for s in sentences[:50]:
        assert loaded.sentence_logprob(s) == pytest.approx(model.sentence_logprob(s), abs=1e-4)
    assert loaded.prefix_in_vocab("w1999") and not loaded.prefix_in_vocab("v")
