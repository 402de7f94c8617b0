"""LSTM encoder-decoder with Luong attention.

``forward`` runs the decoder over the whole teacher-forced target at once (training);
``encode`` + ``step`` run it one token at a time (generation). Both paths use the
same modules in the same order, so they agree (tests/test_dialogue_model.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .cells import CELLS, make_encoder_rnn
from .tokenizer import PAD_ID

ATTENTIONS = ("dot", "general", "concat")


@dataclass
class Seq2SeqConfig:
    vocab_size: int = 8000  # tokenizer pieces (ids 0..4 are pad/unk/bos/eos/sep)
    embed_dim: int = 256  # token embedding size, shared by encoder and decoder
    encoder_hidden: int = 256  # hidden units per direction of the bidirectional encoder
    encoder_layers: int = 1  # stacked encoder layers
    decoder_hidden: int = 512  # decoder LSTM hidden units (also the attention size)
    decoder_layers: int = 1  # stacked decoder LSTM layers
    cell: str = "lstm"  # encoder cell: "lstm" | "gru" | "lstm_peephole"
    attention: str = "general"  # Luong score: "dot" | "general" | "concat"
    dropout: float = 0.2  # dropout on embeddings, between layers and before the output layer
    tie_embeddings: bool = True  # output layer reuses the embedding matrix (through a projection to embed_dim)

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell={self.cell!r}; valid choices: {', '.join(CELLS)}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention={self.attention!r}; valid choices: {', '.join(ATTENTIONS)}")
        for name in ("vocab_size", "embed_dim", "encoder_hidden", "encoder_layers", "decoder_hidden", "decoder_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; must be a positive integer")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout!r}; must be in [0, 1)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Seq2SeqConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown Seq2SeqConfig keys {unknown}; valid keys: {sorted(names)}")
        return cls(**d)


class Memory(NamedTuple):
    """Encoder output prepared for attention."""

    keys: Tensor  # (B, S, K) what queries are scored against
    values: Tensor  # (B, S, Hd) what the context vector averages
    mask: Tensor  # (B, S) bool, True on real source positions

    def index_select(self, index: Tensor) -> "Memory":
        return Memory(self.keys.index_select(0, index), self.values.index_select(0, index), self.mask.index_select(0, index))


DecoderState = Tuple[Tensor, Tensor]  # h, c: (layers, B, Hd) each


class Seq2Seq(nn.Module):
    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=PAD_ID)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = make_encoder_rnn(c.cell, c.embed_dim, c.encoder_hidden, c.encoder_layers, c.dropout)
        enc_out = 2 * c.encoder_hidden
        self.bridge_h = nn.Linear(enc_out, c.decoder_layers * c.decoder_hidden)
        self.bridge_c = nn.Linear(enc_out, c.decoder_layers * c.decoder_hidden)
        self.memory_proj = nn.Linear(enc_out, c.decoder_hidden, bias=False)
        if c.attention == "general":
            self.attn_w = nn.Linear(c.decoder_hidden, c.decoder_hidden, bias=False)
        elif c.attention == "concat":
            self.attn_q = nn.Linear(c.decoder_hidden, c.decoder_hidden, bias=False)
            self.attn_k = nn.Linear(enc_out, c.decoder_hidden)
            self.attn_v = nn.Linear(c.decoder_hidden, 1, bias=False)
        self.decoder = nn.LSTM(
            c.embed_dim,
            c.decoder_hidden,
            num_layers=c.decoder_layers,
            batch_first=True,
            dropout=c.dropout if c.decoder_layers > 1 else 0.0,
        )
        self.combine = nn.Linear(2 * c.decoder_hidden, c.decoder_hidden)
        if c.tie_embeddings:
            self.out_proj = nn.Linear(c.decoder_hidden, c.embed_dim)
            self.out_bias = nn.Parameter(torch.zeros(c.vocab_size))
        else:
            self.output = nn.Linear(c.decoder_hidden, c.vocab_size)
        nn.init.normal_(self.embedding.weight, std=c.embed_dim**-0.5)
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()

    # ------------------------------------------------------------------ encoder
    def encode(self, src: Tensor, src_lengths: Tensor) -> Tuple[Memory, DecoderState]:
        """src (B,S) long, src_lengths (B,) -> attention memory and the decoder's initial state."""
        c = self.config
        B, S = src.shape
        x = self.drop(self.embedding(src))  # (B,S,E)
        out, h_last, c_last = self.encoder(x, src_lengths)  # (B,S,2He), (B,2He), (B,2He)|None
        mask = torch.arange(S, device=src.device)[None, :] < src_lengths.to(src.device)[:, None]  # (B,S)
        values = self.memory_proj(out)  # (B,S,Hd)
        if c.attention == "concat":
            keys = self.attn_k(out)  # (B,S,Hd)
        else:
            keys = values
        h0 = torch.tanh(self.bridge_h(h_last)).view(B, c.decoder_layers, c.decoder_hidden).transpose(0, 1)  # (L,B,Hd)
        c_src = c_last if c_last is not None else h_last
        c0 = self.bridge_c(c_src).view(B, c.decoder_layers, c.decoder_hidden).transpose(0, 1)  # (L,B,Hd)
        return Memory(keys, values, mask), (h0.contiguous(), c0.contiguous())

    # ------------------------------------------------------------------ decoder
    def _attend(self, q: Tensor, memory: Memory) -> Tensor:
        """q (B,T,Hd) -> attentional hidden (B,T,Hd)."""
        c = self.config
        if c.attention == "dot":
            scores = torch.bmm(q, memory.keys.transpose(1, 2))  # (B,T,S)
        elif c.attention == "general":
            scores = torch.bmm(self.attn_w(q), memory.keys.transpose(1, 2))  # (B,T,S)
        else:
            e = torch.tanh(self.attn_q(q).unsqueeze(2) + memory.keys.unsqueeze(1))  # (B,T,S,Hd)
            scores = self.attn_v(e).squeeze(3)  # (B,T,S)
        scores = scores.masked_fill(~memory.mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=2)  # (B,T,S)
        context = torch.bmm(weights, memory.values)  # (B,T,Hd)
        return torch.tanh(self.combine(torch.cat([q, context], dim=2)))  # (B,T,Hd)

    def _logits(self, hidden: Tensor) -> Tensor:
        hidden = self.drop(hidden)
        if self.config.tie_embeddings:
            return F.linear(self.out_proj(hidden), self.embedding.weight, self.out_bias)  # (...,V)
        return self.output(hidden)  # (...,V)

    def decode(self, tgt_in: Tensor, state: DecoderState, memory: Memory) -> Tuple[Tensor, DecoderState]:
        """tgt_in (B,T) -> logits (B,T,V) and the state after the last position."""
        y = self.drop(self.embedding(tgt_in))  # (B,T,E)
        out, state = self.decoder(y, state)  # (B,T,Hd)
        return self._logits(self._attend(out, memory)), state

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: src (B,S), src_lengths (B,), tgt_in (B,T) starting with bos -> logits (B,T,V)."""
        memory, state = self.encode(src, src_lengths)
        logits, _ = self.decode(tgt_in, state, memory)
        return logits

    def step(self, token: Tensor, state: DecoderState, memory: Memory) -> Tuple[Tensor, DecoderState]:
        """One generation step: token (B,) previous ids -> logits (B,V), new state."""
        if self.training:  # dropout between decoder layers lives inside nn.LSTM
            logits, state = self.decode(token.unsqueeze(1), state, memory)  # (B,1,V)
            return logits.squeeze(1), state
        # Inference: the same LSTM equations on the same weights, without nn.LSTM's per-call overhead
        # (several times faster for one token on CPU).
        x = self.embedding(token)  # (B,E)
        h, c = state
        hs, cs = [], []
        for layer in range(self.config.decoder_layers):
            w_ih = getattr(self.decoder, f"weight_ih_l{layer}")
            w_hh = getattr(self.decoder, f"weight_hh_l{layer}")
            bias = getattr(self.decoder, f"bias_ih_l{layer}") + getattr(self.decoder, f"bias_hh_l{layer}")
            gates = torch.addmm(bias, x, w_ih.t()) + h[layer] @ w_hh.t()  # (B,4H)
            i, f, g, o = gates.chunk(4, dim=1)  # 4 x (B,H)
            c_new = torch.sigmoid(f) * c[layer] + torch.sigmoid(i) * torch.tanh(g)
            x = torch.sigmoid(o) * torch.tanh(c_new)  # (B,H)
            hs.append(x)
            cs.append(c_new)
        hidden = self._attend(x.unsqueeze(1), memory)  # (B,1,Hd)
        return self._logits(hidden).squeeze(1), (torch.stack(hs), torch.stack(cs))  # (B,V), (L,B,Hd) x2

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def grow_vocab(self, vocab_size: int) -> "Seq2Seq":
        """Add output/input rows for new tokens (ids >= the current vocab_size), in place.

        New embeddings start at the mean of the trained ones (a neutral token the model has to
        learn to tell apart), and their output bias at the mean bias, so fine-tuning starts from
        the trained model's behaviour on the old tokens.
        """
        old = self.config.vocab_size
        if vocab_size < old:
            raise ValueError(f"vocab_size {vocab_size} is smaller than the model's {old}")
        if vocab_size == old:
            return self
        n = vocab_size - old
        weight = self.embedding.weight
        rows = weight[PAD_ID + 1 :].mean(0, keepdim=True).expand(n, -1) + 0.01 * torch.randn(n, weight.shape[1])
        emb = nn.Embedding(vocab_size, weight.shape[1], padding_idx=PAD_ID)
        emb.weight.copy_(torch.cat([weight, rows.to(weight)], 0))  # (V',E)
        self.embedding = emb.to(weight.device)
        if self.config.tie_embeddings:
            bias = self.out_bias
            self.out_bias = nn.Parameter(torch.cat([bias, bias.mean().expand(n)]))  # (V',)
        else:
            out = nn.Linear(self.output.in_features, vocab_size).to(weight.device)
            out.weight.copy_(torch.cat([self.output.weight, self.output.weight.mean(0, keepdim=True).expand(n, -1)]))
            out.bias.copy_(torch.cat([self.output.bias, self.output.bias.mean().expand(n)]))
            self.output = out
        self.config = dataclasses.replace(self.config, vocab_size=vocab_size)
        return self


def reorder_state(state: DecoderState, index: Tensor) -> DecoderState:
    """Select batch rows of a decoder state (beam search)."""
    h, c = state
    return h.index_select(1, index), c.index_select(1, index)
