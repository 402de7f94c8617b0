"""Responder: overfit three pairs, stream == reply, ReplyStream results, clean text, save -> load, errors."""

import pytest
import torch

from dialogue import DecodingOptions, Responder, ReplyStream
from dialogue.testing import TINY_PAIRS, overfit_responder
from dialogue.text import build_source, normalize_input


@pytest.fixture(scope="module")
def bot():
    return overfit_responder()


def test_overfit_three_pairs_exactly(bot):
    for prompt, reply in TINY_PAIRS:
        assert bot.reply([], prompt) == reply


def test_typed_and_spoken_input_look_alike(bot):
    assert bot.reply([], "Hello there!") == bot.reply([], "hello there")
    assert normalize_input("What's UP, Doc?!") == "what's up doc"


@pytest.mark.parametrize(
    "options",
    [None, DecodingOptions(strategy="beam", beam_size=3, no_repeat_ngram_size=2),
     DecodingOptions(strategy="sample", seed=5, temperature=1.5, max_length=12), {"max_length": 4}],
)
def test_stream_joined_equals_reply(bot, options):
    for prompt in ["hello there", "how are you", "tell me a joke", "something else entirely 😀"]:
        pieces = list(bot.stream(["how are you", "I am fine."], prompt, options))
        assert "".join(pieces) == bot.reply(["how are you", "I am fine."], prompt, options)
        assert all(pieces)


def test_stream_pieces_are_whole_words(bot):
    pieces = list(bot.stream([], "tell me a joke"))
    assert len(pieces) > 3
    for piece in pieces[1:]:
        assert piece.startswith(" ") and " " not in piece[1:]


def test_reply_stream_result(bot):
    s = bot.start([], "how are you")
    assert isinstance(s, ReplyStream)
    text = "".join(s)
    assert s.text == text == "I am fine, thanks for asking."
    assert s.finish_reason == "eos"
    assert -1.0 < s.confidence <= 0.0
    cut = bot.start([], "tell me a joke", {"max_length": 3})
    assert cut.read() and cut.finish_reason == "length"
    assert cut.text[-1] in ".!?"


def test_close_stops_early(bot):
    s = bot.start([], "tell me a joke")
    first = next(iter(s))
    s.close()
    assert list(s) == []
    assert s.text == first and s.finish_reason == "cancelled"


def test_replies_are_clean_text(bot):
    for options in [None, {"strategy": "sample", "seed": 1, "temperature": 3.0}, {"max_length": 2}]:
        for prompt in ["zzz qqq", "", "😀😀", "how are you"]:
            r = bot.reply([], prompt, options)
            assert r and r[0].isupper() and r[-1] in ".!?\u2026"
            assert "<" not in r and "\u2047" not in r and "\ufffd" not in r


def test_context_is_truncated_from_the_oldest_side(bot):
    tok = bot.tokenizer
    history = [f"turn number {i}" for i in range(20)]
    ids = build_source(tok, history, "how are you", history_turns=5, max_tokens=12)
    assert len(ids) == 12
    assert ids[-len(tok.encode("how are you")) :] == tok.encode("how are you")
    assert tok.sep_id in ids
    assert build_source(tok, [], "", 2, 10) == [tok.sep_id]


def test_bad_arguments(bot):
    with pytest.raises(ValueError, match="history"):
        bot.reply("not a list", "hi")
    with pytest.raises(ValueError, match="temprature"):
        bot.reply([], "hi", {"temprature": 1.0})
    with pytest.raises(ValueError, match="options"):
        bot.reply([], "hi", 42)


def test_save_load_identity(bot, tmp_path):
    path = bot.save(tmp_path / "m.pt")
    ckpt = torch.load(path, weights_only=True)
    assert isinstance(ckpt["tokenizer"], bytes) and ckpt["format"] == "dialogue-seq2seq"
    again = Responder.load(path)
    for prompt, _ in TINY_PAIRS:
        assert again.reply(["hello there"], prompt) == bot.reply(["hello there"], prompt)
    src = bot.source_ids([], "how are you")
    with torch.no_grad():
        a = bot.model.encode(torch.tensor([src]), torch.tensor([len(src)]))[0].values
        b = again.model.encode(torch.tensor([src]), torch.tensor([len(src)]))[0].values
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    half = Responder.load(bot.save(tmp_path / "half.pt", half=True))
    assert next(half.model.parameters()).dtype == torch.float32
    assert [half.reply([], p) for p, _ in TINY_PAIRS] == [r for _, r in TINY_PAIRS]


def test_options_saved_with_the_model(bot, tmp_path):
    opts = DecodingOptions(strategy="beam", beam_size=2, no_repeat_ngram_size=3)
    r = Responder(bot.model, bot.tokenizer, options=opts)
    assert Responder.load(r.save(tmp_path / "o.pt")).options == opts


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="en"):
        Responder.load(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="en"):
        Responder.load("fr")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.pt"):
        Responder.load(bad)
    wrong = tmp_path / "wrong.pt"
    torch.save({"format": "speech-ctc", "version": 1}, wrong)
    with pytest.raises(ValueError, match="missing keys"):
        Responder.load(wrong)
    empty_dir = tmp_path / "d"
    empty_dir.mkdir()
    with pytest.raises(FileNotFoundError, match="no single dialogue checkpoint"):
        Responder.load(empty_dir)


def test_avoid_previous_reply_uses_the_bots_last_turns(bot):
    opts = DecodingOptions(avoid_previous_reply=True, no_repeat_ngram_size=3, strategy="beam", beam_size=3)
    said = bot.reply([], "hello there")
    again = bot.reply(["hello there", said], "hello there", opts)
    assert again != said and again
    assert "".join(bot.stream(["hello there", said], "hello there", opts)) == again


def test_reply_never_just_echoes_the_prompt():
    echo = overfit_responder(pairs=[("hello there", "Hello there!"), ("how are you", "I am fine, thanks.")], steps=120)
    reply = echo.reply([], "hello there")
    assert normalize_input(reply) != "hello there" and reply
