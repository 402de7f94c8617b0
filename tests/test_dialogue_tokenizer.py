"""Tokenizer: special ids, round trips, unknown text never fails, serialisation."""

import pytest

from dialogue import Tokenizer
from dialogue.testing import tiny_tokenizer
from dialogue.tokenizer import BOS_ID, EOS_ID, PAD_ID, SEP_ID, UNK_ID


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer(["hello there", "how are you today", "tell me a joke please"])


def test_special_ids(tok):
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id, tok.sep_id) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID, SEP_ID)
    assert tok.id_to_piece(SEP_ID) == "<sep>"
    assert len(tok) == tok.vocab_size >= 300


@pytest.mark.parametrize("text", ["hello there", "How are you today?", "tell me a joke, please!"])
def test_round_trip_known_text(tok, text):
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("text", ["naïve café 😀", "漢字とかな", "zzyzx qwv 123 🎉🎉", "tab\tand ümlaut"])
def test_unknown_text_never_fails_and_round_trips(tok, text):
    ids = tok.encode(text)
    assert ids and UNK_ID not in ids  # byte fallback instead of <unk>
    assert tok.decode(ids) == text.replace("\t", " ")


def test_decode_drops_special_ids(tok):
    ids = [BOS_ID] + tok.encode("hello") + [SEP_ID, EOS_ID, PAD_ID, UNK_ID]
    assert tok.decode(ids) == "hello"


def test_bytes_round_trip(tok):
    again = Tokenizer.from_bytes(tok.to_bytes())
    assert again.encode("how are you 😀") == tok.encode("how are you 😀")
    assert len(again) == len(tok)


def test_corrupt_proto_is_value_error():
    with pytest.raises(ValueError, match="sentencepiece"):
        Tokenizer(b"not a model")
    with pytest.raises(ValueError):
        Tokenizer(b"")


def test_train_validates_arguments():
    with pytest.raises(ValueError, match="vocab_size"):
        Tokenizer.train(["a b c"], vocab_size=10)
    with pytest.raises(ValueError, match="model_type"):
        Tokenizer.train(["a b c"], model_type="word")
    with pytest.raises(ValueError, match="non-empty"):
        Tokenizer.train(["", "  "])
