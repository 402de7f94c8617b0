"""DecodingOptions validation and generate(): determinism, lengths, end token, blocking, beam, sampling."""

import dataclasses

import pytest
import torch

from dialogue import DecodingOptions, Seq2Seq, Seq2SeqConfig, generate
from dialogue.decoding import _banned_ngram_tokens, generate_steps
from dialogue.tokenizer import EOS_ID


def random_model(seed=0, vocab=30):
    torch.manual_seed(seed)
    return Seq2Seq(Seq2SeqConfig(vocab_size=vocab, embed_dim=8, encoder_hidden=8, decoder_hidden=16, dropout=0.0)).eval()


def never_ending_model():
    model = random_model()
    with torch.no_grad():
        model.out_bias[EOS_ID] = -1e4  # the end token never wins
    return model


def always_ending_model():
    model = random_model()
    with torch.no_grad():
        model.out_bias[EOS_ID] = 1e4
    return model


# ------------------------------------------------------------------ options
@pytest.mark.parametrize(
    "kwargs, names",
    [
        ({"strategy": "topk"}, ["strategy", "'topk'", "'greedy'", "'beam'", "'sample'"]),
        ({"beam_size": 0}, ["beam_size", "0", ">= 1"]),
        ({"temperature": 0}, ["temperature", "> 0"]),
        ({"top_p": 1.5}, ["top_p", "1.5", "(0, 1]"]),
        ({"top_k": -1}, ["top_k", "-1"]),
        ({"max_length": 0}, ["max_length", ">= 1"]),
        ({"min_length": 5, "max_length": 3}, ["min_length", "max_length (3)"]),
        ({"no_repeat_ngram_size": -2}, ["no_repeat_ngram_size", "-2"]),
        ({"repetition_penalty": 0.0}, ["repetition_penalty", "> 0"]),
        ({"length_penalty": -1.0}, ["length_penalty", ">= 0"]),
        ({"seed": "x"}, ["seed", "'x'"]),
        ({"beam_size": True}, ["beam_size", "True"]),
    ],
)
def test_options_validation_names_bad_value_and_choices(kwargs, names):
    with pytest.raises(ValueError) as err:
        DecodingOptions(**kwargs)
    for name in names:
        assert name in str(err.value)


def test_from_dict_rejects_unknown_keys_naming_them():
    with pytest.raises(ValueError) as err:
        DecodingOptions.from_dict({"beam": 4, "temprature": 0.5})
    msg = str(err.value)
    assert "beam" in msg and "temprature" in msg and "temperature" in msg  # bad keys and valid keys


def test_from_dict_round_trip_and_frozen():
    opts = DecodingOptions.from_dict({"strategy": "beam", "beam_size": 3, "no_repeat_ngram_size": 3})
    assert DecodingOptions.from_dict(opts.to_dict()) == opts
    assert DecodingOptions.from_dict(None) == DecodingOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.beam_size = 5
    assert opts.replace(beam_size=2).beam_size == 2
    with pytest.raises(ValueError, match="dict"):
        DecodingOptions.from_dict([("strategy", "beam")])


# ------------------------------------------------------------------ generate
def test_generate_is_a_generator_of_ints():
    gen = generate(random_model(), [5, 6, 7], DecodingOptions(max_length=5))
    first = next(gen)
    assert isinstance(first, int)


def test_greedy_is_deterministic():
    model = random_model()
    a = list(generate(model, [5, 6, 7, 8], DecodingOptions(max_length=12)))
    b = list(generate(model, [5, 6, 7, 8], DecodingOptions(max_length=12)))
    assert a == b


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_max_length_is_respected(strategy):
    opts = DecodingOptions(strategy=strategy, max_length=7, beam_size=3, seed=0)
    steps = list(generate_steps(never_ending_model(), [5, 6], opts))
    assert len(steps) == 7 and EOS_ID not in [s.token for s in steps]


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_stops_at_end_token(strategy):
    opts = DecodingOptions(strategy=strategy, beam_size=3, seed=0, min_length=0)
    assert list(generate(always_ending_model(), [5, 6], opts)) == []
    steps = list(generate_steps(always_ending_model(), [5, 6], opts))
    assert [s.token for s in steps] == [EOS_ID]


def test_min_length_blocks_the_end_token():
    opts = DecodingOptions(min_length=3, max_length=10)
    out = list(generate(always_ending_model(), [5, 6], opts))
    assert len(out) == 3


def test_no_repeat_ngram_blocking():
    model = never_ending_model()
    for n in (1, 2, 3):
        out = list(generate(model, [5, 6, 7], DecodingOptions(max_length=20, no_repeat_ngram_size=n)))
        grams = [tuple(out[i : i + n]) for i in range(len(out) - n + 1)]
        assert len(grams) == len(set(grams))


def test_banned_ngram_helper():
    assert _banned_ngram_tokens([1, 2, 3, 1, 2], 3) == [3]
    assert _banned_ngram_tokens([1, 2], 1) in ([1, 2], [2, 1])
    assert _banned_ngram_tokens([1], 3) == []


def test_repetition_penalty_reduces_repeats():
    model = never_ending_model()
    plain = list(generate(model, [5, 6, 7], DecodingOptions(max_length=30)))
    penalised = list(generate(model, [5, 6, 7], DecodingOptions(max_length=30, repetition_penalty=5.0)))
    assert len(set(penalised)) >= len(set(plain))


def test_sampling_seed_reproducible_and_varies():
    model = random_model(vocab=60)
    outs = {
        seed: list(generate(model, [5, 6, 7], DecodingOptions(strategy="sample", seed=seed, max_length=15)))
        for seed in range(4)
    }
    again = list(generate(model, [5, 6, 7], DecodingOptions(strategy="sample", seed=0, max_length=15)))
    assert outs[0] == again
    assert len({tuple(v) for v in outs.values()}) > 1


def test_top_k_one_equals_greedy():
    model = random_model()
    greedy = list(generate(model, [5, 6], DecodingOptions(max_length=10)))
    top1 = list(generate(model, [5, 6], DecodingOptions(strategy="sample", top_k=1, seed=3, max_length=10)))
    assert greedy == top1


def test_beam_of_one_equals_greedy_and_beam_scores_at_least_greedy():
    model = random_model()
    greedy = list(generate(model, [5, 6, 9], DecodingOptions(max_length=10)))
    beam1 = list(generate(model, [5, 6, 9], DecodingOptions(strategy="beam", beam_size=1, max_length=10)))
    assert greedy == beam1
    steps = list(generate_steps(model, [5, 6, 9], DecodingOptions(strategy="beam", beam_size=4, length_penalty=0.0, max_length=10)))
    g_steps = list(generate_steps(model, [5, 6, 9], DecodingOptions(max_length=10)))
    if steps[-1].token == EOS_ID and g_steps[-1].token == EOS_ID:
        assert sum(s.logprob for s in steps) >= sum(s.logprob for s in g_steps) - 1e-4


def test_banned_ids_never_generated():
    model = never_ending_model()
    out = list(generate(model, [5, 6], DecodingOptions(max_length=30), banned_ids=range(10, 30)))
    assert out and all(t < 10 for t in out)


def test_empty_source_is_value_error():
    with pytest.raises(ValueError, match="empty"):
        list(generate(random_model(), [], DecodingOptions()))


def test_avoid_previous_reply_blocks_its_ngrams():
    model = never_ending_model()
    opts = DecodingOptions(max_length=12, no_repeat_ngram_size=2)
    first = list(generate(model, [5, 6, 7], opts))
    again = list(generate_steps(model, [5, 6, 7], opts.replace(avoid_previous_reply=True), avoid=[first]))
    tokens = [s.token for s in again]
    assert tokens != first
    assert not {tuple(tokens[i : i + 2]) for i in range(len(tokens) - 1)} & {tuple(first[i : i + 2]) for i in range(len(first) - 1)}
    with pytest.raises(ValueError, match="avoid_previous_reply"):
        DecodingOptions(avoid_previous_reply="yes")


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_block_callback_keeps_the_reply_going(strategy):
    opts = DecodingOptions(strategy=strategy, beam_size=2, seed=0, min_length=0, max_length=6)
    steps = list(generate_steps(always_ending_model(), [5, 6], opts, block=lambda toks: [EOS_ID] if len(toks) < 2 else []))
    assert [s.token for s in steps][-1] == EOS_ID and len(steps) == 3
