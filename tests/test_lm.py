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


# ---------------------------------------------------------------- frequency lists and interpolation

UNIGRAMS = {"the": 1000, "of": 600, "cat": 40, "dog": 50, "amiable": 3, "woman": 30, "lights": 20}
BIGRAMS = {("of", "the"): 9000, ("the", "cat"): 600, ("the", "dog"): 900, ("amiable", "woman"): 60,
           ("the", "zebra"): 500}  # zebra has no unigram count: skipped


@pytest.fixture(scope="module")
def listed():
    return NGramLM.from_frequency_lists(UNIGRAMS, BIGRAMS, bigram_scale=20.0)


@pytest.mark.parametrize("context", [(), ("<s>",), ("the",), ("of",), ("amiable",), ("cat",), ("zebra",)])
def test_frequency_list_model_is_a_distribution(listed, context):
    assert sum(10 ** listed.score(w, context) for w in _vocab(listed)) == pytest.approx(1.0, abs=1e-6)


def test_frequency_list_model_follows_the_counts(listed):
    assert listed.order == 2 and "zebra" not in listed
    # P(w | v) = c(v w) / (scale * c(v)); unlisted pairs back off to P(w) = c(w) / N (less </s> and <unk>).
    assert 10 ** listed.score("dog", ("the",)) == pytest.approx(900 / (20 * 1000), rel=1e-5)
    assert 10 ** listed.score("the", ("of",)) == pytest.approx(9000 / (20 * 600), rel=1e-5)
    assert 10 ** listed.score("woman", ("amiable",)) == pytest.approx(0.95, rel=1e-5)  # 60 / 60 capped
    assert 10 ** listed.score("cat") == pytest.approx(40 / sum(UNIGRAMS.values()) * 0.94, rel=1e-5)
    assert listed.score("dog", ("the",)) > listed.score("dog", ("cat",))
    assert listed.score("the", ("<s>",)) == pytest.approx(listed.score("the"))


def test_frequency_list_scale_is_estimated_from_the_top_words():
    # the largest ratio of listed continuations to the word's count: "amiable", 60 / 3 = 20
    model = NGramLM.from_frequency_lists(UNIGRAMS, BIGRAMS)
    assert model.to_arpa() == NGramLM.from_frequency_lists(UNIGRAMS, BIGRAMS, bigram_scale=20.0).to_arpa()
    top_only = NGramLM.from_frequency_lists(UNIGRAMS, {k: v for k, v in BIGRAMS.items() if k[0] != "amiable"})
    assert 10 ** top_only.score("the", ("of",)) == pytest.approx(0.95, rel=1e-5)  # "of": 9000 / 600 = 15, capped
    assert 10 ** top_only.score("dog", ("the",)) == pytest.approx(900 / (15 * 1000), rel=1e-5)


@pytest.mark.parametrize("unigrams, bigrams, kwargs, message", [
    ({}, {}, {}, "at least one unigram"),
    ({"the": 0}, {}, {}, "positive number"),
    ({"two words": 5}, {}, {}, "plain word"),
    ({"<s>": 5}, {}, {}, "plain word"),
    ({"the": 5}, {("the",): 3}, {}, "tuples"),
    ({"the": 5}, {("the", "the"): -1}, {}, "positive number"),
    ({"the": 5}, {}, {"max_context_mass": 1.0}, "max_context_mass"),
    ({"the": 5}, {}, {"eos_share": 0.6, "unk_share": 0.5}, "sum below 1"),
    ({"the": 5}, {}, {"bigram_scale": 0.0}, "bigram_scale"),
])
def test_frequency_list_bad_input(unigrams, bigrams, kwargs, message):
    with pytest.raises(ValueError, match=message):
        NGramLM.from_frequency_lists(unigrams, bigrams, **kwargs)


@pytest.fixture(scope="module")
def mixed(lm, listed):
    return NGramLM.interpolate([lm, listed], [0.75, 0.25])


@pytest.mark.parametrize("context", [(), ("<s>",), ("the",), ("<s>", "the"), ("on", "the"), ("amiable",),
                                     ("the", "cat"), ("zebra", "okapi")])
def test_interpolated_model_is_a_distribution(mixed, context):
    assert sum(10 ** mixed.score(w, context) for w in _vocab(mixed)) == pytest.approx(1.0, abs=1e-6)


def test_interpolation_mixes_explicit_ngrams_and_joins_vocabularies(lm, listed, mixed):
    assert mixed.order == 3 and mixed.vocab == lm.vocab | listed.vocab
    for word, context in [("cat", ("the",)), ("sat", ("the", "cat")), ("dog", ("the",)), ("lights", ())]:
        # a model that lacks the word contributes 0 (its share of <unk> does not count for a known word)
        want = sum(wt * 10 ** m.score(word, context) for m, wt in ((lm, 0.75), (listed, 0.25)) if word in m)
        assert 10 ** mixed.score(word, context) == pytest.approx(want, rel=1e-4)
    # a word only the frequency lists know gets only their share
    assert 10 ** mixed.score("woman", ("amiable",)) == pytest.approx(0.25 * 10 ** listed.score("woman", ("amiable",)),
                                                                       rel=1e-4)
    assert NGramLM.from_arpa(mixed.to_arpa()).score("woman", ("amiable",)) == pytest.approx(
        mixed.score("woman", ("amiable",)), abs=1e-5)


def test_interpolating_one_model_gives_it_back(lm):
    same = NGramLM.interpolate([lm], [3.0])
    for sentence in CORPUS + ["the zebra sat on the lights"]:
        assert same.sentence_logprob(sentence) == pytest.approx(lm.sentence_logprob(sentence), abs=1e-6)


@pytest.mark.parametrize("models, weights, message", [
    ([], [], "one weight per model"),
    (["lm"], [0.5, 0.5], "one weight per model"),
    (["lm"], [0.0], "positive"),
    (["lm"], [float("nan")], "positive"),
    (["not a model"], [1.0], "NGramLM"),
])
def test_interpolation_bad_arguments(lm, models, weights, message):
    models = [lm if m == "lm" else m for m in models]
    with pytest.raises(ValueError, match=message):
        NGramLM.interpolate(models, weights)
