"""Seq2Seq: teacher-forced forward == encode + step, for every cell and attention."""

import pytest
import torch

from dialogue import Seq2Seq, Seq2SeqConfig
from dialogue.model import reorder_state


@pytest.mark.parametrize("cell", ["lstm", "gru", "lstm_peephole"])
@pytest.mark.parametrize("attention", ["dot", "general", "concat"])
def test_step_matches_forward(cell, attention):
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(vocab_size=40, embed_dim=8, encoder_hidden=8, decoder_hidden=12, decoder_layers=2,
                        encoder_layers=2, cell=cell, attention=attention, tie_embeddings=attention != "dot")
    model = Seq2Seq(cfg).eval()
    src = torch.randint(5, 40, (3, 7))  # (B,S)
    lengths = torch.tensor([7, 4, 1])
    tgt_in = torch.randint(2, 40, (3, 5))  # (B,T)
    with torch.no_grad():
        full = model(src, lengths, tgt_in)  # (B,T,V)
        memory, state = model.encode(src, lengths)
        steps = []
        for t in range(tgt_in.shape[1]):
            logits, state = model.step(tgt_in[:, t], state, memory)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), full, rtol=1e-5, atol=1e-5)


def test_padding_does_not_change_a_sequence():
    torch.manual_seed(1)
    model = Seq2Seq(Seq2SeqConfig(vocab_size=30, embed_dim=8, encoder_hidden=8, decoder_hidden=8)).eval()
    src = torch.randint(5, 30, (1, 4))
    padded = torch.cat([src, torch.zeros(1, 3, dtype=torch.long)], 1)
    tgt = torch.randint(5, 30, (1, 3))
    with torch.no_grad():
        a = model(src, torch.tensor([4]), tgt)
        b = model(padded, torch.tensor([4]), tgt)
    torch.testing.assert_close(a, b)


def test_reorder_state_selects_rows():
    h = torch.arange(6.0).view(1, 3, 2)
    c = -h
    h2, c2 = reorder_state((h, c), torch.tensor([2, 0]))
    assert h2[0, 0].tolist() == [4.0, 5.0] and c2[0, 1].tolist() == [-0.0, -1.0]


@pytest.mark.parametrize(
    "key, value, match",
    [("cell", "rnn", "lstm, gru, lstm_peephole"), ("attention", "bahdanau", "dot, general, concat"),
     ("decoder_hidden", 0, "positive"), ("dropout", 1.5, "dropout")],
)
def test_config_validation(key, value, match):
    with pytest.raises(ValueError, match=match):
        Seq2SeqConfig(**{key: value})


def test_config_round_trip_and_unknown_keys():
    cfg = Seq2SeqConfig(vocab_size=100, cell="gru")
    assert Seq2SeqConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="hidden_size"):
        Seq2SeqConfig.from_dict({"hidden_size": 3})
