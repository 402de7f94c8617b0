"""Recurrent layers for the encoder: torch LSTM/GRU and a TorchScript peephole LSTM.

All three expose the same call: ``layer(x (B,S,I), lengths (B,)) -> (out (B,S,2H), h (B,2H), c (B,2H) | None)``
for a bidirectional stack; padded positions of ``out`` are zero.
"""

from __future__ import annotations

import warnings
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = ("lstm", "gru", "lstm_peephole")


class PeepholeLSTMCell(nn.Module):
    """LSTM cell with peephole connections (Gers & Schmidhuber 2000): gates also see the cell state."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        self.peep_i = nn.Parameter(torch.zeros(hidden_size))
        self.peep_f = nn.Parameter(torch.zeros(hidden_size))
        self.peep_o = nn.Parameter(torch.zeros(hidden_size))
        bound = 1.0 / hidden_size**0.5
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)
        with torch.no_grad():
            self.bias[hidden_size : 2 * hidden_size].fill_(1.0)  # forget gate bias

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> Tuple[Tensor, Tensor]:
        gates = x @ self.weight_ih.t() + h @ self.weight_hh.t() + self.bias  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)  # 4 x (B, H)
        i = torch.sigmoid(i + self.peep_i * c)
        f = torch.sigmoid(f + self.peep_f * c)
        c_new = f * c + i * torch.tanh(g)
        o = torch.sigmoid(o + self.peep_o * c_new)
        h_new = o * torch.tanh(c_new)
        return h_new, c_new


class _PeepholeDirection(nn.Module):
    """One direction of one layer, run over a padded batch with a mask (state frozen on padding)."""

    def __init__(self, input_size: int, hidden_size: int, reverse: bool):
        super().__init__()
        self.cell = PeepholeLSTMCell(input_size, hidden_size)
        self.reverse = reverse
        self.hidden_size = hidden_size

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        # x (B,S,I), mask (B,S) float 1 for real positions
        B, S, _ = x.shape
        h = x.new_zeros(B, self.hidden_size)
        c = x.new_zeros(B, self.hidden_size)
        outs: List[Tensor] = []
        for k in range(S):
            t = S - 1 - k if self.reverse else k
            h_new, c_new = self.cell(x[:, t], h, c)
            m = mask[:, t].unsqueeze(1)  # (B,1)
            h = m * h_new + (1.0 - m) * h
            c = m * c_new + (1.0 - m) * c
            outs.append(h * m)
        if self.reverse:
            outs.reverse()
        return torch.stack(outs, dim=1), h, c  # (B,S,H), (B,H), (B,H)


class PeepholeBiLSTM(nn.Module):
    """Stacked bidirectional peephole LSTM; TorchScript-compiled directions keep the loop in C++."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.dropout = dropout
        layers = []
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else 2 * hidden_size
            with warnings.catch_warnings():  # torch.jit.script still works; its deprecation notice is noise here
                warnings.simplefilter("ignore", FutureWarning)
                pair = [torch.jit.script(_PeepholeDirection(in_size, hidden_size, rev)) for rev in (False, True)]
            layers.append(nn.ModuleList(pair))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        S = x.shape[1]
        mask = (torch.arange(S, device=x.device)[None, :] < lengths[:, None].to(x.device)).to(x.dtype)  # (B,S)
        h_last = c_last = x
        for li, (fwd, bwd) in enumerate(self.layers):
            if li > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
            of, hf, cf = fwd(x, mask)
            ob, hb, cb = bwd(x, mask)
            x = torch.cat([of, ob], dim=2)  # (B,S,2H)
            h_last = torch.cat([hf, hb], dim=1)  # (B,2H)
            c_last = torch.cat([cf, cb], dim=1)  # (B,2H)
        return x, h_last, c_last


class TorchBiRNN(nn.Module):
    """nn.LSTM / nn.GRU bidirectional stack over packed sequences."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        cls = nn.LSTM if cell == "lstm" else nn.GRU
        self.is_lstm = cell == "lstm"
        self.rnn = cls(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )

    def forward(self, x: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        S = x.shape[1]
        packed = pack_padded_sequence(x, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
        out, hidden = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=S)  # (B,S,2H)
        if self.is_lstm:
            h, c = hidden
            c_last: Optional[Tensor] = torch.cat([c[-2], c[-1]], dim=1)  # (B,2H)
        else:
            h = hidden
            c_last = None
        h_last = torch.cat([h[-2], h[-1]], dim=1)  # (B,2H) last layer, both directions
        return out, h_last, c_last


def make_encoder_rnn(cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float) -> nn.Module:
    if cell not in CELLS:
        raise ValueError(f"cell={cell!r}; valid choices: {', '.join(CELLS)}")
    if cell == "lstm_peephole":
        return PeepholeBiLSTM(input_size, hidden_size, num_layers, dropout)
    return TorchBiRNN(cell, input_size, hidden_size, num_layers, dropout)
