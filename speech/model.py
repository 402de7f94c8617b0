"""The CTC acoustic model: log-mel frames -> per-frame log-probabilities over the alphabet.

    feats (B, T, n_mels)
      -> global normalisation ((x - feat_mean) / feat_std)
      -> frame stacking: `stack` consecutive frames concatenated, every `stride` frames
      -> optional linear input projection
      -> recurrent layers (fused nn.LSTM / nn.GRU, or the scripted peephole LSTM)
      -> linear to the vocabulary -> log_softmax
    log_probs (B, T', vocab_size), T' = 1 + (T - stack) // stride

Streaming: `forward` takes and returns an `AcousticState` holding the feature
frames not yet consumed by stacking and the recurrent state, so feeding an
utterance in any chunks gives the same log-probs as one pass. Items of a batch
may have different lengths (and different leftover frames); each item's result
equals running it alone, so a server can step many streams in one call with
`batch_states` / `split_state`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import warnings
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["CELLS", "AcousticConfig", "AcousticModel", "AcousticState", "PeepholeLSTM", "widen_model"]

logger = logging.getLogger(__name__)

CELLS = ("lstm", "gru", "lstm_peephole")


@dataclass
class AcousticConfig:
    """Shape of the acoustic model (saved inside checkpoints)."""

    n_mels: int = 80  # input feature size (FeatureConfig.n_mels)
    stack: int = 3  # consecutive feature frames concatenated into one model frame
    stride: int = 3  # feature frames between model frames: the subsampling factor (1 <= stride <= stack)
    input_proj: int = 0  # width of a linear projection of the stacked frames before the recurrent layers; 0 = none
    hidden: int = 320  # recurrent units per layer and direction
    layers: int = 3  # number of recurrent layers
    cell: str = "lstm"  # "lstm" (fused, default), "gru" (fused) or "lstm_peephole" (scripted custom cell, slower)
    bidirectional: bool = False  # also read the utterance backwards: offline use only, cannot stream
    dropout: float = 0.1  # dropout after the projection, between recurrent layers and before the output (training only)
    vocab_size: int = 29  # output symbols including the CTC blank at 0 (len(Alphabet))
    input_frame_shift: float = 0.01  # seconds between input feature frames (FeatureConfig hop_length / sample_rate)
    # Output frames at the start of every utterance that are read as blank whatever the network says. A one-way
    # LSTM's first outputs hardly depend on the audio (its state is still zero), so without this it learns to
    # put a guess at the first letter there and then skips the real first sound ('happy' -> 'a..ppy').
    # Training and decoding both see the forced blanks: the first letter can only come once it was heard.
    silent_start: int = 0

    def __post_init__(self) -> None:
        for name in ("n_mels", "stack", "stride", "hidden", "layers", "vocab_size"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("input_proj", self.input_proj, minimum=0)
        _check_int("silent_start", self.silent_start, minimum=0)
        if self.cell not in CELLS:
            raise ValueError(f"AcousticConfig.cell must be one of {list(CELLS)}, got {self.cell!r}")
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"AcousticConfig.bidirectional must be True or False, got {self.bidirectional!r}")
        if self.stride > self.stack:
            raise ValueError(
                f"AcousticConfig.stride ({self.stride}) must be <= stack ({self.stack}), "
                f"otherwise feature frames would be skipped"
            )
        if not _is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"AcousticConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if not _is_number(self.input_frame_shift) or not self.input_frame_shift > 0:
            raise ValueError(f"AcousticConfig.input_frame_shift must be > 0 seconds, got {self.input_frame_shift!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AcousticConfig:
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ValueError(f"unknown AcousticConfig fields {unknown}; valid fields: {valid}")
        return cls(**data)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"AcousticConfig.{name} must be {kind}, got {value!r}")


class AcousticState(NamedTuple):
    """Streaming state of a batch (pass it back into `forward` with the next chunk)."""

    frames: Tensor  # (B, stack - 1, n_mels) normalised feature frames waiting for stacking
    num_frames: Tensor  # (B,) long: how many of `frames` are valid (the rest is zero padding)
    h: Tensor  # (layers, B, hidden) recurrent hidden state
    c: Optional[Tensor]  # (layers, B, hidden) LSTM cell state; None for GRU
    position: Optional[Tensor] = None  # (B,) long: output frames produced so far (None: as many as silent_start)


# --------------------------------------------------------------------------- peephole LSTM


def _peephole_scan(
    xw: Tensor,
    mask: Tensor,
    h: Tensor,
    c: Tensor,
    w_hh_t: Tensor,
    w_ci: Tensor,
    w_cf: Tensor,
    w_co: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """One direction of one peephole LSTM layer over time.

    xw (T, B, 4H) input projections (bias included), mask (T, B, 1) bool (False = padding),
    h, c (B, H); gates i, f see the previous cell state and o sees the new one.
    Padded steps leave h and c unchanged and output zeros.
    """
    outputs: list[Tensor] = []
    zeros = torch.zeros_like(h)
    for t in range(xw.size(0)):
        gates = xw[t] + torch.mm(h, w_hh_t)  # (B, 4H)
        i, f, g, o = gates.chunk(4, 1)  # each (B, H)
        i = torch.sigmoid(i + c * w_ci)
        f = torch.sigmoid(f + c * w_cf)
        c_new = f * c + i * torch.tanh(g)
        o = torch.sigmoid(o + c_new * w_co)
        h_new = o * torch.tanh(c_new)
        m = mask[t]  # (B, 1)
        h = torch.where(m, h_new, h)
        c = torch.where(m, c_new, c)
        outputs.append(torch.where(m, h_new, zeros))
    return torch.stack(outputs), h, c  # (T, B, H), (B, H), (B, H)


@functools.lru_cache(maxsize=None)
def _scripted_scan():
    # TorchScript is what compiles the time loop here; torch marks torch.jit.script as
    # deprecated (FutureWarning), which is noise for our users, so it is silenced locally.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(_peephole_scan)


class PeepholeLSTM(nn.Module):
    """LSTM whose gates also see the cell state (Gers & Schmidhuber peepholes).

    NOTE: slower than the fused nn.LSTM: the time loop runs step by step in a
    TorchScript function (one small matmul per frame and layer) instead of
    cuDNN/oneDNN kernels. Use it for experiments; "lstm" is the default.

    Same calling convention as nn.LSTM with batch_first=True, plus explicit
    lengths: forward(x (B, T, I), lengths (B,), hx=(h, c) each (layers*dirs, B, H) or None)
    -> (out (B, T, H*dirs) with zeros past each length, (h, c)).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool, dropout: float):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_directions = 2 if bidirectional else 1
        self.dropout = dropout
        self.cells = nn.ModuleList()
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for _ in range(self.num_directions):
                cell = nn.Module()
                cell.w_ih = nn.Parameter(torch.empty(4 * hidden_size, layer_input))
                cell.w_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
                cell.bias = nn.Parameter(torch.empty(4 * hidden_size))
                cell.w_ci = nn.Parameter(torch.empty(hidden_size))
                cell.w_cf = nn.Parameter(torch.empty(hidden_size))
                cell.w_co = nn.Parameter(torch.empty(hidden_size))
                self.cells.append(cell)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = self.hidden_size**-0.5  # nn.LSTM's initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, lengths: Tensor, hx: Optional[tuple[Tensor, Tensor]] = None):
        batch, steps, _ = x.shape
        n_states = self.num_layers * self.num_directions
        if hx is None:
            zeros = x.new_zeros(n_states, batch, self.hidden_size)
            hx = (zeros, zeros)
        h0, c0 = hx
        scan = _scripted_scan()
        positions = torch.arange(steps, device=x.device)  # (T,)
        lengths = lengths.to(x.device)
        mask = (positions[:, None] < lengths[None, :]).unsqueeze(-1)  # (T, B, 1)
        if self.num_directions == 2:
            # Reverse every item within its own length; padding stays at the end.
            t, n = positions[None, :], lengths[:, None]
            rev = torch.where(t < n, n - 1 - t, t)  # (B, T)
        layer_input = x.transpose(0, 1)  # (T, B, I)
        h_out, c_out = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                cell = self.cells[k]
                seq = layer_input
                if direction == 1:
                    seq = _gather_time(seq, rev)
                xw = torch.addmm(cell.bias, seq.reshape(-1, seq.shape[-1]), cell.w_ih.t())  # (T*B, 4H)
                xw = xw.view(steps, batch, -1)  # (T, B, 4H)
                out, h, c = scan(xw, mask, h0[k], c0[k], cell.w_hh.t(), cell.w_ci, cell.w_cf, cell.w_co)  # (T, B, H)
                if direction == 1:
                    out = _gather_time(out, rev)
                outputs.append(out)
                h_out.append(h)
                c_out.append(c)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)  # (T, B, H*dirs)
        return layer_input.transpose(0, 1), (torch.stack(h_out), torch.stack(c_out))  # (B, T, H*dirs)


def _gather_time(seq: Tensor, index: Tensor) -> Tensor:
    """seq (T, B, D), index (B, T) -> out[t, b] = seq[index[b, t], b]."""
    idx = index.t().unsqueeze(-1).expand(-1, -1, seq.shape[-1])  # (T, B, D)
    return seq.gather(0, idx)


# --------------------------------------------------------------------------- oneDNN switch

_onednn_lock = threading.Lock()
_onednn_users = 0  # callers currently inside _native_cpu_lstm
_onednn_saved = True  # torch.backends.mkldnn.enabled before the first of them entered


@contextlib.contextmanager
def _native_cpu_lstm():
    """Run nn.LSTM on PyTorch's native CPU kernels instead of oneDNN while inside.

    oneDNN's LSTM reorders every weight matrix on each call (about 1 ms per layer),
    which dominates streaming inference where a call sees a few frames; the native
    kernels cost microseconds per call and are as fast on long inputs with one thread.
    The switch is process-wide, so nested and concurrent users are counted and the
    original setting comes back when the last one leaves.
    """
    global _onednn_users, _onednn_saved
    with _onednn_lock:
        if _onednn_users == 0:
            _onednn_saved = torch.backends.mkldnn.enabled
            torch.backends.mkldnn.enabled = False
        _onednn_users += 1
    try:
        yield
    finally:
        with _onednn_lock:
            _onednn_users -= 1
            if _onednn_users == 0:
                torch.backends.mkldnn.enabled = _onednn_saved


# --------------------------------------------------------------------------- acoustic model


class AcousticModel(nn.Module):
    """Stacked frames -> recurrent layers -> log-probs over the alphabet (CTC, blank = 0)."""

    def __init__(self, config: AcousticConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AcousticConfig()
        self.register_buffer("feat_mean", torch.zeros(config.n_mels))
        self.register_buffer("feat_std", torch.ones(config.n_mels))
        stacked = config.stack * config.n_mels
        self.input_proj = nn.Linear(stacked, config.input_proj) if config.input_proj else None
        rnn_input = config.input_proj or stacked
        self.dropout = nn.Dropout(config.dropout)
        inter_layer_dropout = config.dropout if config.layers > 1 else 0.0
        if config.cell == "lstm_peephole":
            self.rnn: nn.Module = PeepholeLSTM(
                rnn_input, config.hidden, config.layers, config.bidirectional, inter_layer_dropout
            )
        else:
            rnn_class = nn.LSTM if config.cell == "lstm" else nn.GRU
            self.rnn = rnn_class(
                rnn_input,
                config.hidden,
                num_layers=config.layers,
                batch_first=True,
                bidirectional=config.bidirectional,
                dropout=inter_layer_dropout,
            )
        self.output = nn.Linear(config.hidden * (2 if config.bidirectional else 1), config.vocab_size)
        self._init_forget_bias()

    def _init_forget_bias(self) -> None:
        """Forget gates start open (bias 1) so early training keeps information flowing."""
        if self.config.cell == "gru":
            return
        h = self.config.hidden
        with torch.no_grad():
            for name, p in self.rnn.named_parameters():
                if name.startswith("bias_ih") or name.endswith(".bias"):
                    p[h : 2 * h].fill_(1.0)
                elif name.startswith("bias_hh"):
                    p[h : 2 * h].fill_(0.0)

    # ---------------------------------------------------------------- properties and helpers

    @property
    def streaming(self) -> bool:
        """True if the model can run chunk by chunk (unidirectional)."""
        return not self.config.bidirectional

    @property
    def frame_shift_seconds(self) -> float:
        """Seconds between output frames."""
        return self.config.stride * self.config.input_frame_shift

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Output frames for whole utterances of `lengths` feature frames (for CTC loss)."""
        stack, stride = self.config.stack, self.config.stride
        return torch.where(lengths >= stack, torch.div(lengths - stack, stride, rounding_mode="floor") + 1, 0)

    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """Set the global feature normalisation (per mel channel), e.g. from training data statistics."""
        mean = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std = torch.as_tensor(std, dtype=torch.float32).flatten()
        n = self.config.n_mels
        if mean.numel() != n or std.numel() != n:
            raise ValueError(f"mean and std must have {n} values (n_mels), got {mean.numel()} and {std.numel()}")
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()) or (std < 0).any():
            raise ValueError("mean and std must be finite and std must be >= 0")
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp(min=1e-5))

    def _require_streaming(self, what: str) -> None:
        if self.config.bidirectional:
            raise ValueError(
                f"{what}: bidirectional models are offline only (they need the whole utterance); "
                f"call forward(feats, lengths) with state=None, or use a model with bidirectional=False"
            )

    def initial_state(self, batch_size: int = 1) -> AcousticState:
        """A fresh streaming state for `batch_size` streams (what state=None means)."""
        self._require_streaming("initial_state")
        c = self.config
        device = self.feat_mean.device
        h = torch.zeros(c.layers, batch_size, c.hidden, device=device)
        return AcousticState(
            frames=torch.zeros(batch_size, c.stack - 1, c.n_mels, device=device),
            num_frames=torch.zeros(batch_size, dtype=torch.long, device=device),
            h=h,
            c=torch.zeros_like(h) if c.cell != "gru" else None,
            position=torch.zeros(batch_size, dtype=torch.long, device=device),
        )

    def batch_states(self, states: Sequence[Optional[AcousticState]]) -> Optional[AcousticState]:
        """Per-stream states (None = fresh stream) -> one batched state; None if all are fresh."""
        self._require_streaming("batch_states")
        if all(s is None for s in states):
            return None
        filled = [self.initial_state(1) if s is None else s for s in states]
        return AcousticState(
            frames=torch.cat([s.frames for s in filled], dim=0),
            num_frames=torch.cat([s.num_frames for s in filled], dim=0),
            h=torch.cat([s.h for s in filled], dim=1),
            c=None if filled[0].c is None else torch.cat([s.c for s in filled], dim=1),
            position=torch.cat([self._position(s) for s in filled], dim=0),
        )

    def split_state(self, state: AcousticState) -> list[AcousticState]:
        """A batched state -> one state per stream (batch size 1 each), in batch order."""
        self._require_streaming("split_state")
        return [
            AcousticState(
                frames=state.frames[b : b + 1],
                num_frames=state.num_frames[b : b + 1],
                h=state.h[:, b : b + 1],
                c=None if state.c is None else state.c[:, b : b + 1],
                position=self._position(state)[b : b + 1],
            )
            for b in range(state.frames.shape[0])
        ]

    def _position(self, state: AcousticState) -> Tensor:
        """(B,) output frames a state has produced; states made before positions were tracked count as past
        the silent start."""
        if state.position is not None:
            return state.position
        return torch.full((state.frames.shape[0],), self.config.silent_start, dtype=torch.long,
                          device=state.frames.device)

    def _silence_start(self, log_probs: Tensor, position: Tensor) -> Tensor:
        """Force blank on the output frames whose index in their utterance is below silent_start."""
        index = position.to(log_probs.device)[:, None] + torch.arange(log_probs.shape[1], device=log_probs.device)
        early = (index < self.config.silent_start)[:, :, None]  # (B, T', 1)
        if not bool(early.any()):
            return log_probs
        blank = torch.full_like(log_probs[:1, :1], -1e4)  # (1, 1, V): a probability that is 0 in float32
        blank[..., 0] = 0.0
        return torch.where(early, blank, log_probs)

    # ---------------------------------------------------------------- forward

    def forward(
        self, feats: Tensor, lengths: Optional[Tensor] = None, state: Optional[AcousticState] = None,
        *, final_state: bool = True,
    ) -> tuple[Tensor, Tensor, Optional[AcousticState]]:
        """feats (B, T, n_mels), lengths (B,) -> (log_probs (B, T', V), out_lengths (B,), state).

        `state` is None for the start of an utterance; pass the returned state
        with the next chunk to continue it. Bidirectional models return None as
        state and refuse a non-None one.

        final_state=False: the caller will not continue these utterances (training, evaluation), so
        no state is returned and a one-way model runs the padded batch through the recurrent layers
        without packing it. Frames after an item's end cannot change its earlier outputs, so the
        log-probs within each item's length are the same, and the fused kernels (oneDNN on the CPU)
        run about 3x faster on padded input than on a packed sequence, backward included.
        """
        cfg = self.config
        feats, lengths = self._check_inputs(feats, lengths)
        if state is not None:
            self._require_streaming("forward with a streaming state")
            self._check_state(state, feats.shape[0])
        batch = feats.shape[0]
        device = feats.device

        x = (feats - self.feat_mean) / self.feat_std  # (B, T, F)
        if state is None:
            x = x[:, : int(lengths.max()) if batch else 0]  # drop padding beyond the longest item
            total = lengths  # (B,)
        else:
            x, total = _prepend(state.frames, state.num_frames.cpu(), x, lengths)  # (B, S+T, F)

        # Frame stacking: out frame j = concat(x[j*stride : j*stride + stack]).
        out_lengths = self.output_lengths(total)  # (B,) on CPU
        steps = x.shape[1]
        n_out = 1 + (steps - cfg.stack) // cfg.stride if steps >= cfg.stack else 0
        if n_out:
            stacked = x.unfold(1, cfg.stack, cfg.stride)  # (B, T', F, stack)
            stacked = stacked.transpose(2, 3).reshape(batch, n_out, cfg.stack * cfg.n_mels)  # (B, T', stack*F)
        else:
            stacked = x.new_zeros(batch, 0, cfg.stack * cfg.n_mels)  # (B, 0, stack*F)

        # no state for bidirectional models, nor for callers that will not continue (final_state=False)
        new_state = self._leftover(x, total, out_lengths) if final_state and not cfg.bidirectional else None

        if self.input_proj is not None:
            stacked = self.input_proj(stacked)  # (B, T', input_proj)
        stacked = self.dropout(stacked)

        # Padding may run through the layers only where it cannot reach a kept output: one-way cells,
        # no state handed back (the last state of a padded item would have seen its padding).
        pad_through = not final_state and not cfg.bidirectional
        hidden, recurrent = self._recurrent(stacked, out_lengths, state, pad_through)  # (B, T', H*dirs)
        log_probs = torch.log_softmax(self.output(self.dropout(hidden)), dim=-1)  # (B, T', V)
        position = torch.zeros(batch, dtype=torch.long) if state is None else self._position(state).cpu()
        if cfg.silent_start:
            log_probs = self._silence_start(log_probs, position)

        if new_state is not None:
            h, c = recurrent
            new_state = new_state._replace(h=h, c=c, position=(position + out_lengths).to(device))
        return log_probs, out_lengths.to(device), new_state

    def _check_inputs(self, feats: Tensor, lengths: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        n_mels = self.config.n_mels
        if not isinstance(feats, Tensor) or feats.dim() != 3 or feats.shape[-1] != n_mels:
            shape = tuple(feats.shape) if isinstance(feats, Tensor) else type(feats).__name__
            raise ValueError(f"feats must be a tensor (batch, frames, {n_mels}), got {shape}")
        if not feats.is_floating_point():
            raise ValueError(f"feats must be floating point, got {feats.dtype}")
        batch, steps, _ = feats.shape
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long)
        lengths = torch.as_tensor(lengths).to("cpu", torch.long)
        if lengths.shape != (batch,):
            raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
        if batch and (lengths.min() < 0 or lengths.max() > steps):
            raise ValueError(f"lengths must be in [0, {steps}] (the frames in feats), got {lengths.tolist()}")
        return feats.to(self.feat_mean.dtype), lengths

    def _check_state(self, state: AcousticState, batch: int) -> None:
        if not isinstance(state, AcousticState):
            raise ValueError(f"state must be an AcousticState returned by forward, got {type(state).__name__}")
        if state.frames.shape[0] != batch or state.h.shape[1] != batch:
            raise ValueError(
                f"state is for a batch of {state.frames.shape[0]} streams but feats has {batch}; "
                f"combine per-stream states with batch_states()"
            )
        if (state.c is None) != (self.config.cell == "gru"):
            raise ValueError(f"state does not belong to a {self.config.cell!r} model")

    def _leftover(self, x: Tensor, total: Tensor, out_lengths: Tensor) -> AcousticState:
        """Frames of each item not yet fully used by stacking (fewer than `stack`)."""
        cfg = self.config
        keep = cfg.stack - 1
        batch = x.shape[0]
        start = out_lengths * cfg.stride  # (B,) first frame of the next output frame, on CPU
        count = total - start  # (B,) frames left, in [0, stack - 1]
        first_start, first_count = int(start[0]) if batch else 0, int(count[0]) if batch else 0
        if bool((start == first_start).all()) and bool((count == first_count).all()):
            # Same leftover position for every item (always so for one stream): a slice.
            frames = x[:, first_start : first_start + first_count]  # (B, count, F)
            if first_count < keep:
                frames = torch.cat([frames, x.new_zeros(batch, keep - first_count, cfg.n_mels)], dim=1)  # (B, S, F)
        else:
            padded = torch.cat([x, x.new_zeros(batch, keep, cfg.n_mels)], dim=1)  # (B, T + S, F)
            offsets = torch.arange(keep, device=x.device)  # (S,)
            index = start.to(x.device)[:, None] + offsets[None, :]  # (B, S)
            frames = padded.gather(1, index.unsqueeze(-1).expand(-1, -1, cfg.n_mels))  # (B, S, F)
            frames = frames * (offsets[None, :] < count.to(x.device)[:, None]).unsqueeze(-1)  # zero the padding
        return AcousticState(frames=frames, num_frames=count.to(x.device), h=x.new_zeros(0), c=None)

    def _recurrent(self, x: Tensor, lengths: Tensor, state: Optional[AcousticState], pad_through: bool = False):
        """Run the recurrent layers on items with at least one frame; others keep their state.

        pad_through: run padded items unpacked (see forward's final_state); their returned states are then wrong.
        """
        batch, steps, _ = x.shape
        out_width = self.config.hidden * (2 if self.config.bidirectional else 1)
        if state is None:
            h0 = c0 = None
        else:
            h0, c0 = state.h, state.c
        if steps == 0:
            if h0 is None and not self.config.bidirectional:
                fresh = self.initial_state(batch)
                h0, c0 = fresh.h.to(x.device), fresh.c
            return x.new_zeros(batch, 0, out_width), (h0, c0)  # (B, 0, H*dirs)

        active = lengths > 0  # (B,) on CPU
        if bool(active.all()):
            out, (h, c) = self._run_rnn(x, lengths, h0, c0, pad_through)
            return out, (h, c)

        # Some items have no new frame this call: run the rest, leave these states untouched.
        idx = active.nonzero().flatten()
        idx_dev = idx.to(x.device)
        sub_h0 = None if h0 is None else h0.index_select(1, idx_dev)
        sub_c0 = None if c0 is None else c0.index_select(1, idx_dev)
        sub_out, (sub_h, sub_c) = self._run_rnn(x.index_select(0, idx_dev), lengths[idx], sub_h0, sub_c0, pad_through)
        out = x.new_zeros(batch, steps, out_width).index_copy(0, idx_dev, sub_out)  # (B, T', H*dirs)
        if h0 is None:
            n_states = self.config.layers * (2 if self.config.bidirectional else 1)
            h0 = x.new_zeros(n_states, batch, self.config.hidden)
            c0 = None if self.config.cell == "gru" else torch.zeros_like(h0)
        h = h0.index_copy(1, idx_dev, sub_h)
        c = None if c0 is None else c0.index_copy(1, idx_dev, sub_c)
        return out, (h, c)

    def _run_rnn(self, x: Tensor, lengths: Tensor, h0: Optional[Tensor], c0: Optional[Tensor],
                 pad_through: bool = False):
        """x (B, T', D) with every length >= 1 -> (out (B, T', H*dirs), (h, c)).

        pad_through: no packing even when lengths differ (outputs past an item's length, and its
        returned state, are then garbage; one-way cells only)."""
        cell = self.config.cell
        if cell == "lstm_peephole":
            out, (h, c) = self.rnn(x, lengths, None if h0 is None else (h0, c0))
            return out, (h, c)
        hx = None if h0 is None else ((h0, c0) if cell == "lstm" else h0)
        steps = x.shape[1]
        native = cell == "lstm" and x.device.type == "cpu" and not torch.is_grad_enabled()
        with _native_cpu_lstm() if native else contextlib.nullcontext():
            if pad_through or bool((lengths == steps).all()):
                out, hn = self.rnn(x, hx)  # (B, T', H*dirs): no padding, or padding that cannot matter
            else:
                packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
                out, hn = self.rnn(packed, hx)
                out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)  # (B, T', H*dirs)
        if cell == "lstm":
            return out, hn
        return out, (hn, None)


def _prepend(frames: Tensor, num_frames: Tensor, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Put each item's leftover frames in front of its new frames.

    frames (B, S, F) with num_frames (B,) valid, x (B, T, F) with lengths (B,) valid (both counts on CPU)
    -> (B, max total, F) and total (B,) = num_frames + lengths.
    """
    total = num_frames + lengths  # (B,)
    batch = x.shape[0]
    width = int(total.max()) if batch else 0
    first = int(num_frames[0]) if batch else 0
    if bool((num_frames == first).all()):
        # Same number of leftover frames for every item (always so for one stream): one concatenation.
        if first == 0:
            return x[:, :width], total
        return torch.cat([frames[:, :first], x], dim=1)[:, :width], total  # (B, W, F)
    keep = frames.shape[1]
    source = torch.cat([frames, x], dim=1)  # (B, S + T, F)
    positions = torch.arange(width, device=x.device)  # (W,)
    n = num_frames.to(x.device)[:, None]  # (B, 1)
    # position t reads leftover t while t < n, then new frame t - n (stored at S + t - n)
    index = torch.where(positions[None, :] < n, positions[None, :], keep + positions[None, :] - n)  # (B, W)
    index = index.clamp(max=source.shape[1] - 1)
    return source.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1])), total  # (B, W, F)


def widen_model(model: AcousticModel, hidden: int, *, noise: float = 0.0, seed: int = 0) -> AcousticModel:
    """A copy of `model` with `hidden` units per recurrent layer that computes the same function.

    Net2WiderNet (Chen et al., 2016) for a stack of fused LSTM or GRU layers: each new unit copies
    the incoming weights and biases of a randomly chosen old unit of its layer; every weight that
    reads a copied unit (the next layer's input weights, the layer's own recurrent weights, the
    output layer) is divided by the number of copies of that unit. A copy then holds the same cell
    and hidden state as its original at every step, and the sums that read them are unchanged, so
    the wide model starts exactly where the trained narrow one is (up to float rounding) and
    training can use the extra units. `noise` > 0 adds Gaussian noise of that many standard
    deviations of each weight matrix to the new units' incoming weights, to break the symmetry
    (dropout between layers breaks it too, once training starts).
    """
    config = model.config
    if config.cell not in ("lstm", "gru") or config.bidirectional:
        raise ValueError(f"widening supports one-way 'lstm' and 'gru' layers, not cell={config.cell!r}"
                         f"{' (bidirectional)' if config.bidirectional else ''}")
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < config.hidden:
        raise ValueError(f"hidden must be an int >= the model's {config.hidden}, got {hidden!r}")
    if not _is_number(noise) or not noise >= 0:
        raise ValueError(f"noise must be a number >= 0, got {noise!r}")
    old_h = config.hidden
    gates = 4 if config.cell == "lstm" else 3
    wide = AcousticModel(AcousticConfig.from_dict({**config.to_dict(), "hidden": hidden}))
    generator = torch.Generator().manual_seed(seed)
    old = {k: v.detach().float() for k, v in model.state_dict().items()}
    new: dict[str, Tensor] = {k: v for k, v in old.items() if not k.startswith(("rnn.", "output."))}

    def source_units() -> tuple[Tensor, Tensor]:
        extra = torch.randint(0, old_h, (hidden - old_h,), generator=generator)
        units = torch.cat([torch.arange(old_h), extra])
        copies = torch.bincount(units, minlength=old_h).float()
        return units, copies[units]  # which old unit each new unit copies; how many share it

    previous: Optional[tuple[Tensor, Tensor]] = None
    for layer in range(config.layers):
        units, shares = source_units()
        rows = torch.cat([gate * old_h + units for gate in range(gates)])
        w_ih = old[f"rnn.weight_ih_l{layer}"][rows]
        if previous is not None:  # the input is the previous (widened) layer's hidden state
            w_ih = w_ih[:, previous[0]] / previous[1]
        w_hh = old[f"rnn.weight_hh_l{layer}"][rows][:, units] / shares
        if noise > 0 and hidden > old_h:
            new_rows = torch.cat([gate * hidden + torch.arange(old_h, hidden) for gate in range(gates)])
            for w in (w_ih, w_hh):
                w[new_rows] += noise * w.std() * torch.randn(len(new_rows), w.shape[1], generator=generator)
        new[f"rnn.weight_ih_l{layer}"] = w_ih
        new[f"rnn.weight_hh_l{layer}"] = w_hh
        new[f"rnn.bias_ih_l{layer}"] = old[f"rnn.bias_ih_l{layer}"][rows]
        new[f"rnn.bias_hh_l{layer}"] = old[f"rnn.bias_hh_l{layer}"][rows]
        previous = (units, shares)
    assert previous is not None
    new["output.weight"] = old["output.weight"][:, previous[0]] / previous[1]
    new["output.bias"] = old["output.bias"]
    wide.load_state_dict(new)
    return wide
