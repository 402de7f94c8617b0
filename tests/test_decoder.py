"""CTC decoders on hand-built emission matrices: greedy, prefix beam search, LM, hot words, streaming."""
import itertools
import math

import numpy as np
import pytest

from speech.decoder import BeamSearchDecoder, GreedyDecoder, Hypothesis, WordSpan
from speech.lm import NGramLM
from speech.vocab import Alphabet

ALPHABET = Alphabet()


def emissions(frames, alphabet=ALPHABET, peak=0.9):
    """(T, V) log posteriors. A frame is a symbol ("_" = blank) given `peak`, or {symbol: prob}; the rest is spread."""
    symbols = list(alphabet.symbols)
    index = {("_" if i == 0 else s): i for i, s in enumerate(symbols)}
    rows = []
    for frame in frames:
        spec = {frame: peak} if isinstance(frame, str) else dict(frame)
        row = np.zeros(len(symbols))
        for sym, p in spec.items():
            row[index[sym]] = p
        rest = 1.0 - row.sum()
        free = row == 0
        row[free] = rest / free.sum()
        rows.append(row)
    with np.errstate(divide="ignore"):  # a frame may give other symbols probability 0 (log = -inf)
        return np.log(np.array(rows))


def spelled(text, rng=None, noise=0.0):
    """Frames for `text`: each character 1-2 frames, 1-2 blanks between; with noise, random logits added."""
    rng = rng or np.random.default_rng(0)
    ids = []
    for ch in text:
        ids += [ALPHABET.encode(ch)[0]] * int(rng.integers(1, 3)) + [0] * int(rng.integers(1, 3))
    logits = rng.normal(0.0, noise, (len(ids), len(ALPHABET))) if noise else np.zeros((len(ids), len(ALPHABET)))
    logits[np.arange(len(ids)), ids] += 7.0
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def chunks(matrix, rng, max_len=7):
    pos = 0
    while pos < len(matrix):
        n = int(rng.integers(0, max_len + 1))  # empty chunks too
        yield matrix[pos : pos + n]
        pos += n


LM_CORPUS = [
    "the cat sat on the mat",
    "the cat is black",
    "a black cat",
    "turn on the light",
    "call my cat",
    "new york is big",
]


@pytest.fixture(scope="module")
def lm():
    return NGramLM.build(LM_CORPUS, order=3)


# ------------------------------------------------------------------------ greedy


def test_greedy_blanks_and_repeats():
    m = emissions("_hh_e_ll_l_oo__")
    [hyp] = GreedyDecoder(ALPHABET).decode(m)
    assert hyp.text == "hello"  # "ll" collapses, "l _ l" does not
    assert hyp.tokens == ALPHABET.encode("hello")
    assert hyp.score == pytest.approx(len(m) * math.log(0.9))
    assert hyp.confidence == pytest.approx(0.9)


def test_greedy_spaces_are_normalised():
    m = emissions("  _a_ _ b_  ")
    [hyp] = GreedyDecoder(ALPHABET).decode(m)
    assert hyp.text == "a b"
    assert [w.word for w in hyp.words] == ["a", "b"]


def test_greedy_word_spans_are_in_frames():
    m = emissions("_hi__ __yo_oo_")
    [hyp] = GreedyDecoder(ALPHABET).decode(m)
    assert hyp.text == "hi yoo"
    assert hyp.words == [WordSpan("hi", 1, 2, pytest.approx(0.9)), WordSpan("yoo", 8, 12, pytest.approx(0.9))]


def test_greedy_repeat_split_across_chunks_collapses():
    m = emissions("_aab_")
    stream = GreedyDecoder(ALPHABET).stream()
    stream.advance(m[:2])  # "_a"
    assert stream.partial() == ("a", 1)
    stream.advance(m[2:])  # "ab_": the first "a" continues the run from the previous chunk
    [hyp] = stream.finalize()
    assert hyp.text == "ab"
    assert hyp.words[0].end_frame == 3


@pytest.mark.parametrize("seed", range(5))
def test_greedy_stream_equals_one_shot(seed):
    rng = np.random.default_rng(seed)
    m = spelled("turn  the lights on ", rng, noise=2.0)
    decoder = GreedyDecoder(ALPHABET)
    stream = decoder.stream()
    for chunk in chunks(m, rng):
        stream.advance(chunk)
        text, stable = stream.partial()
        assert stable == len(text)
    assert stream.finalize() == decoder.decode(m)


def test_empty_input():
    empty = np.zeros((0, len(ALPHABET)))
    for decoder in (GreedyDecoder(ALPHABET), BeamSearchDecoder(ALPHABET)):
        [hyp] = decoder.decode(empty)
        assert hyp.text == "" and hyp.words == [] and hyp.confidence == 0.0
    [hyp] = GreedyDecoder(ALPHABET).decode(emissions("___", peak=0.99))
    assert hyp.text == "" and hyp.confidence == pytest.approx(0.99)


# ------------------------------------------------------------------------ beam search


def test_beam_sums_alignments_where_greedy_takes_one_path():
    # P(blank)=0.6, P(a)=0.4 twice: best path is "" (0.36) but P("a") = 0.24 + 0.24 + 0.16 = 0.64.
    m = emissions([{"_": 0.6, "a": 0.4}] * 2)
    assert GreedyDecoder(ALPHABET).decode(m)[0].text == ""
    best = BeamSearchDecoder(ALPHABET).decode(m)[0]
    assert best.text == "a"
    assert best.score == pytest.approx(math.log(0.64))


def test_beam_scores_are_exact_label_probabilities():
    # Small alphabet, no pruning: every hypothesis score must equal the brute-force sum over all alignments
    # (with the same text normalisation: repeated, leading and trailing spaces do not make a new text).
    alphabet = Alphabet(["<blank>", " ", "a", "b"])
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 1.0, (6, 4))
    m = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    totals: dict[str, float] = {}
    for path in itertools.product(range(4), repeat=len(m)):
        collapsed = [k for k, _ in itertools.groupby(path) if k != 0]
        text = " ".join(alphabet.decode(collapsed).split())
        totals[text] = totals.get(text, 0.0) + math.exp(sum(m[t, k] for t, k in enumerate(path)))
    decoder = BeamSearchDecoder(alphabet, beam_size=10_000, n_best=50, prune_threshold=0.0, blank_skip=None,
                                beam_threshold=1e9)
    hyps = decoder.decode(m)
    expected = sorted(totals.items(), key=lambda kv: -kv[1])
    assert len(hyps) == min(50, len(expected))
    for hyp, (text, p) in zip(hyps, expected):
        assert hyp.text == text
        assert hyp.score == pytest.approx(math.log(p), abs=1e-9)


def test_beam_agrees_with_greedy_on_clear_input():
    m = spelled("set a timer for ten minutes")
    assert BeamSearchDecoder(ALPHABET).decode(m)[0].text == GreedyDecoder(ALPHABET).decode(m)[0].text
    assert GreedyDecoder(ALPHABET).decode(m)[0].text == "set a timer for ten minutes"


def test_nbest_is_ordered_and_distinct():
    m = emissions(["_", {"c": 0.5, "k": 0.4}, "_", "a", "_", {"t": 0.6, "d": 0.3}, "_"])
    hyps = BeamSearchDecoder(ALPHABET, n_best=4).decode(m)
    assert [h.text for h in hyps[:4]] == ["cat", "kat", "cad", "kad"]
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True)
    assert len({h.text for h in hyps}) == len(hyps)
    assert all(0.0 <= h.confidence <= 1.0 for h in hyps)
    assert hyps[0].confidence > hyps[1].confidence


def test_lm_prefers_in_vocabulary_words(lm):
    # Acoustically "the kat" wins narrowly; the LM knows "cat" and not "kat".
    m = emissions(["t", "_", "h", "e", "_", " ", {"k": 0.5, "c": 0.4}, "_", "a", "t", "_"])
    assert GreedyDecoder(ALPHABET).decode(m)[0].text == "the kat"
    assert BeamSearchDecoder(ALPHABET).decode(m)[0].text == "the kat"
    hyps = BeamSearchDecoder(ALPHABET, lm=lm, lm_weight=0.5).decode(m)
    assert hyps[0].text == "the cat"
    assert "the kat" in [h.text for h in hyps]


def test_unk_penalty_lowers_out_of_vocabulary_words(lm):
    m = emissions(["z", "_", "o", "_", "o", "_"])  # "zoo" is not in the LM
    mild = BeamSearchDecoder(ALPHABET, lm=lm, unk_penalty=0.0).decode(m)[0]
    harsh = BeamSearchDecoder(ALPHABET, lm=lm, unk_penalty=-8.0).decode(m)[0]
    assert mild.text == harsh.text == "zoo"
    assert harsh.score == pytest.approx(mild.score - 0.5 * 8.0)


def test_hot_word_changes_the_result():
    m = emissions(["_", {"k": 0.5, "c": 0.4}, "_", "a", "t", "_"])
    decoder = BeamSearchDecoder(ALPHABET)
    assert decoder.decode(m)[0].text == "kat"
    assert BeamSearchDecoder(ALPHABET, hotwords=["cat"]).decode(m)[0].text == "cat"
    stream = decoder.stream(hotwords=["Cat"])  # per-stream hot words, normalised
    stream.advance(m)
    assert stream.finalize()[0].text == "cat"
    with pytest.raises(ValueError, match="greedy decoding cannot boost hot words"):
        GreedyDecoder(ALPHABET).stream(hotwords=["cat"])


def test_hot_word_outside_the_lm_vocabulary(lm):
    # "zorg" is unknown to the LM: as a hot word it escapes the OOV penalty and wins over the known "cat".
    m = emissions(["_", {"c": 0.5, "z": 0.4}, "_", {"a": 0.5, "o": 0.4}, "_", {"t": 0.5, "r": 0.4}, "_", "g", "_"])
    assert BeamSearchDecoder(ALPHABET, lm=lm).decode(m)[0].text != "zorg"
    assert BeamSearchDecoder(ALPHABET, lm=lm, hotwords=["zorg"]).decode(m)[0].text == "zorg"


def test_hot_word_credit_is_removed_when_the_prefix_leaves_it():
    # "cats" is not the hot word "cat": the partial credit earned on "cat" must not survive the "s".
    m = emissions(["_", {"k": 0.5, "c": 0.4}, "_", "a", "t", "_", "s", "_"])
    assert BeamSearchDecoder(ALPHABET, hotwords=["cat"]).decode(m)[0].text == "kats"
    # Nor does an unfinished hot word keep its credit at the end.
    short = emissions(["_", {"k": 0.5, "c": 0.4}, "_", "a", "_"])
    assert BeamSearchDecoder(ALPHABET, hotwords=["catalog"]).decode(short)[0].text == "ka"


def test_multi_word_hot_word(lm):
    frames = ["n", "e", "w", "_", " ", "y", "o", {"r": 0.4, "l": 0.5}, "k", "_"]
    m = emissions(frames)
    assert BeamSearchDecoder(ALPHABET).decode(m)[0].text == "new yolk"
    assert BeamSearchDecoder(ALPHABET, hotwords=["new york"]).decode(m)[0].text == "new york"
    assert BeamSearchDecoder(ALPHABET, hotwords=["new york"], lm=lm).decode(m)[0].text == "new york"


def test_beam_word_spans_and_confidence():
    m = emissions(["_", "h", "i", "_", " ", "_", "_", "y", "o", "o", "_", "u", "_"])
    hyp = BeamSearchDecoder(ALPHABET).decode(m)[0]
    assert hyp.text == "hi you"
    assert [(w.word, w.start_frame, w.end_frame) for w in hyp.words] == [("hi", 1, 2), ("you", 7, 11)]
    assert all(w.confidence == pytest.approx(0.9) for w in hyp.words)
    assert 0.5 < hyp.confidence <= 0.9


def test_blank_skipping_does_not_change_clear_results():
    m = spelled("play some music")
    m = np.concatenate([emissions("_" * 20, peak=0.9999), m, emissions("_" * 20, peak=0.9999)])
    fast = BeamSearchDecoder(ALPHABET).decode(m)
    slow = BeamSearchDecoder(ALPHABET, blank_skip=None).decode(m)
    assert [h.text for h in fast] == [h.text for h in slow]
    assert fast[0].score == pytest.approx(slow[0].score, abs=1e-6)
    assert fast[0].words == slow[0].words


@pytest.mark.parametrize("seed", range(4))
def test_beam_stream_equals_one_shot(lm, seed):
    rng = np.random.default_rng(seed)
    m = spelled("the cat sat on the mat call my cat ", rng, noise=2.5)
    decoder = BeamSearchDecoder(ALPHABET, lm=lm, hotwords=["black cat"], n_best=5)
    expected = decoder.decode(m)
    stream = decoder.stream()
    seen = []
    for chunk in chunks(m, rng):
        stream.advance(chunk)
        seen.append(stream.partial())
    assert stream.finalize() == expected
    final = expected[0].text
    for (text, stable), (later, _) in zip(seen, seen[1:] + [(final, 0)]):
        assert 0 <= stable <= len(text)
        assert later.startswith(text[:stable])  # the stable prefix never changes
        assert final.startswith(text[:stable])
    assert seen[-1][1] > 0


@pytest.mark.parametrize("seed", range(6))
def test_partial_stable_length_is_the_common_prefix_of_the_beam(lm, seed):
    # partial() finds the stable length by walking the prefix tree up from the beam; it must equal the
    # common prefix of the beam's texts, also when noise makes prefixes leave the beam and come back as new
    # nodes (the same text twice in the tree).
    rng = np.random.default_rng(seed)
    m = spelled("turn the lights on in the kitchen ", rng, noise=3.5)
    stream = BeamSearchDecoder(ALPHABET, lm=lm, beam_size=12).stream()
    for chunk in chunks(m, rng):
        stream.advance(chunk)
        texts = [stream._text(node) for node, _, _ in stream._beam]
        common = len(texts[0])
        for other in texts[1:]:
            common = min(common, next((j for j, (a, b) in enumerate(zip(texts[0], other)) if a != b), len(other)))
        text, stable = stream.partial()
        assert text == texts[0].rstrip(" ")
        assert stable == min(common, len(text))


def test_partial_stable_length_with_a_recreated_prefix():
    # Beam 2: "n" leaves the beam while "n " stays; the next "n" re-creates "n" from the empty prefix, so the
    # beam holds "n n" and a second node spelling "n". Both texts start with "n": 1 stable character.
    frames = ["_", {"n": 0.7, "_": 0.3}, {" ": 0.6, "_": 0.4}, {"n": 0.7, "_": 0.3}]
    stream = BeamSearchDecoder(ALPHABET, beam_size=2).stream()
    stream.advance(emissions(frames))
    assert sorted(stream._text(node) for node, _, _ in stream._beam) == ["n", "n n"]
    assert stream.partial() == ("n n", 1)


@pytest.mark.parametrize("options", [{}, {"unk_penalty": 3.0, "word_bonus": -2.0}, {"word_bonus": 6.0}, {"lm_weight": 2.0, "beam_size": 3}])
def test_cutting_new_prefixes_changes_nothing(lm, options):
    # The cut skips extensions that cannot enter the beam; results must equal the search without it,
    # also with a positive OOV "penalty" and a negative word bonus, where a bonus can rise by a word.
    decoder = BeamSearchDecoder(ALPHABET, lm=lm, **{"beam_size": 8, "blank_skip": None, **options})
    for seed in range(3):
        m = spelled("the cat sat on a mat", np.random.default_rng(seed), noise=3.0)
        results = []
        for cut in (True, False):
            stream = decoder.stream()
            stream.cut_new_prefixes = cut
            stream.advance(m)
            results.append([(h.text, h.score, h.tokens) for h in stream.finalize()])
        assert results[0] == results[1]


def test_prefix_tree_holds_only_the_beam_and_its_ancestors(lm):
    # Extensions are scored without making nodes; only those entering the beam get one, and prefixes that
    # leave the beam are dropped from the tree, so its size stays bounded by beam x depth on a long stream.
    m = spelled("the cat sat on the mat " * 4, np.random.default_rng(1), noise=2.0)
    stream = BeamSearchDecoder(ALPHABET, beam_size=6, lm=lm, hotwords=["cat sat"]).stream()
    for start in range(0, len(m), 5):
        stream.advance(m[start : start + 5])
        kept = set()
        for node, _, _ in stream._beam:
            while node is not None:
                kept.add(node)
                node = node.parent
        held, todo = set(), list(kept)  # what the beam keeps alive through parent and children links
        while todo:
            node = todo.pop()
            held.add(node)
            todo.extend(node.children.values())
        assert held == kept


def test_beam_speed_is_reasonable(lm):
    # Not a benchmark: guards against accidental quadratic behaviour (1000 noisy frames).
    import time

    m = spelled("the cat sat on the mat " * 8, np.random.default_rng(0), noise=2.0)
    start = time.perf_counter()
    BeamSearchDecoder(ALPHABET, lm=lm).decode(m)
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"beam_size": 0}, "beam_size must be an integer >= 1, got 0"),
        ({"n_best": 1.5}, "n_best"),
        ({"lm_weight": -1}, "lm_weight"),
        ({"prune_threshold": 1.0}, r"prune_threshold must be in \[0, 1\)"),
        ({"blank_skip": 0.0}, "blank_skip"),
        ({"hotwords": "cat"}, "not one string"),
        ({"hotwords": ["caté"]}, "outside the alphabet"),
        ({"hotwords": ["  "]}, "empty"),
        ({"lm": "model.arpa"}, "NGramLM"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BeamSearchDecoder(ALPHABET, **kwargs)


def test_bad_matrices():
    for decoder in (GreedyDecoder(ALPHABET), BeamSearchDecoder(ALPHABET)):
        with pytest.raises(ValueError, match="2-D"):
            decoder.decode(np.zeros(len(ALPHABET)))
        with pytest.raises(ValueError, match="5 columns but the alphabet has 29"):
            decoder.decode(np.zeros((3, 5)))
        with pytest.raises(ValueError, match="NaN"):
            decoder.decode(np.full((3, len(ALPHABET)), np.nan))


def test_hypothesis_fields():
    hyp = GreedyDecoder(ALPHABET).decode(emissions("_a_"))[0]
    assert isinstance(hyp, Hypothesis)
    assert (hyp.text, hyp.tokens, len(hyp.words)) == ("a", [ALPHABET.encode("a")[0]], 1)
