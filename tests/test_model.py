"""speech.model: config, shapes, streaming == one pass, batched == alone, bidirectional rules, save/load."""

import io
import random

import pytest
import torch

from speech.model import CELLS, AcousticConfig, AcousticModel, AcousticState

N_MELS = 6


def tiny(cell="lstm", **overrides):
    """A small model in eval mode with a non-trivial feature normalisation."""
    torch.manual_seed(0)
    fields = dict(n_mels=N_MELS, stack=3, stride=3, hidden=16, layers=2, cell=cell, vocab_size=7)
    model = AcousticModel(AcousticConfig(**{**fields, **overrides})).eval()
    model.set_normalization(torch.linspace(-1, 1, N_MELS), torch.linspace(0.5, 2, N_MELS))
    return model


def run_whole(model, feats):
    """feats (T, F) -> log_probs (T', V) of one pass."""
    log_probs, lengths, _ = model(feats[None], torch.tensor([feats.shape[0]]))
    return log_probs[0, : int(lengths[0])]


def run_chunks(model, feats, sizes):
    outputs, state, i = [], None, 0
    for n in sizes:
        chunk = feats[i : i + n]
        log_probs, lengths, state = model(chunk[None], torch.tensor([chunk.shape[0]]), state)
        assert isinstance(state, AcousticState)
        outputs.append(log_probs[0, : int(lengths[0])])
        i += n
    assert i >= feats.shape[0]
    return torch.cat(outputs)


def random_sizes(rng, total, choices=(0, 1, 2, 3, 4, 5, 7, 11)):
    sizes = []
    while sum(sizes) < total:
        sizes.append(rng.choice(choices))
    return sizes


# ------------------------------------------------------------------ config


def test_config_round_trip():
    config = AcousticConfig(hidden=32, cell="gru", input_proj=24, bidirectional=True)
    assert AcousticConfig.from_dict(config.to_dict()) == config
    assert AcousticConfig().to_dict()["cell"] == "lstm"


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"bogus": 1}, r"unknown AcousticConfig fields \['bogus'\]"),
        ({"cell": "transformer"}, r"cell must be one of \['lstm', 'gru', 'lstm_peephole'\], got 'transformer'"),
        ({"hidden": 0}, "hidden must be a positive int, got 0"),
        ({"layers": -1}, "layers must be a positive int"),
        ({"vocab_size": 2.5}, "vocab_size must be a positive int"),
        ({"hidden": True}, "hidden must be a positive int"),
        ({"input_proj": -3}, "input_proj must be an int >= 0"),
        ({"stride": 4, "stack": 3}, "stride .* must be <= stack"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"bidirectional": "yes"}, "bidirectional must be True or False"),
        ({"input_frame_shift": 0}, "input_frame_shift must be > 0"),
    ],
)
def test_config_rejects_bad_values(fields, message):
    with pytest.raises(ValueError, match=message):
        AcousticConfig.from_dict(fields)


# ------------------------------------------------------------------ shapes and basics


def test_default_model_shape_and_helpers():
    model = AcousticModel()
    assert model.config == AcousticConfig()
    assert model.frame_shift_seconds == pytest.approx(0.03)
    assert model.streaming
    assert model.num_parameters() == sum(p.numel() for p in model.parameters()) > 2_000_000


@pytest.mark.parametrize("cell", CELLS)
def test_forward_shapes_and_log_softmax(cell):
    model = tiny(cell, input_proj=10)
    feats = torch.randn(3, 20, N_MELS)
    lengths = torch.tensor([20, 9, 2])
    with torch.no_grad():
        log_probs, out_lengths, state = model(feats, lengths)
    assert log_probs.shape == (3, 6, 7)
    assert out_lengths.tolist() == [6, 3, 0] == model.output_lengths(lengths).tolist()
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 6))
    assert state.frames.shape == (3, 2, N_MELS) and state.num_frames.tolist() == [2, 0, 2]
    assert state.h.shape == (2, 3, 16) and (state.c is None) == (cell == "gru")


def test_lengths_default_to_full_and_inputs_are_checked():
    model = tiny()
    with torch.no_grad():
        a, _, _ = model(torch.ones(1, 9, N_MELS))
        b, _, _ = model(torch.ones(1, 9, N_MELS), torch.tensor([9]))
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match=r"feats must be a tensor \(batch, frames, 6\), got \(9, 6\)"):
        model(torch.ones(9, N_MELS))
    with pytest.raises(ValueError, match=r"feats must be a tensor \(batch, frames, 6\), got \(1, 9, 5\)"):
        model(torch.ones(1, 9, 5))
    with pytest.raises(ValueError, match=r"lengths must be in \[0, 9\]"):
        model(torch.ones(1, 9, N_MELS), torch.tensor([10]))
    with pytest.raises(ValueError, match=r"lengths must have shape \(1,\)"):
        model(torch.ones(1, 9, N_MELS), torch.tensor([9, 9]))
    with pytest.raises(ValueError, match="state is for a batch of 2 streams but feats has 1"):
        model(torch.ones(1, 9, N_MELS), None, model.initial_state(2))


def test_normalization_is_applied_and_checked():
    model = tiny()
    feats = torch.randn(1, 12, N_MELS)
    with torch.no_grad():
        before = run_whole(model, feats[0])
        model.set_normalization(torch.zeros(N_MELS), torch.ones(N_MELS))
        after = run_whole(model, feats[0])
    assert not torch.allclose(before, after)
    with pytest.raises(ValueError, match="must have 6 values"):
        model.set_normalization(torch.zeros(3), torch.ones(3))
    with pytest.raises(ValueError, match="finite"):
        model.set_normalization(torch.full((N_MELS,), float("nan")), torch.ones(N_MELS))


# ------------------------------------------------------------------ streaming == one pass


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("stack,stride,proj", [(3, 3, 0), (4, 2, 5), (1, 1, 0)])
def test_chunked_equals_whole(cell, stack, stride, proj):
    model = tiny(cell, stack=stack, stride=stride, input_proj=proj)
    rng = random.Random(f"{cell}{stack}{stride}")
    feats = torch.randn(41, N_MELS)
    with torch.no_grad():
        whole = run_whole(model, feats)
        for _ in range(3):
            chunked = run_chunks(model, feats, random_sizes(rng, 41))
            assert chunked.shape == whole.shape
            torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)
        one_by_one = run_chunks(model, feats, [1] * 41)
    torch.testing.assert_close(one_by_one, whole, atol=1e-5, rtol=0)


# ------------------------------------------------------------------ batches


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_batch_of_different_lengths_equals_each_alone(cell, bidirectional):
    model = tiny(cell, bidirectional=bidirectional)
    lengths = [17, 5, 12, 2, 9]
    feats = torch.zeros(len(lengths), max(lengths), N_MELS)
    items = [torch.randn(n, N_MELS) for n in lengths]
    for b, item in enumerate(items):
        feats[b, : len(item)] = item
        feats[b, len(item) :] = 100.0  # padding must not leak into results
    with torch.no_grad():
        log_probs, out_lengths, state = model(feats, torch.tensor(lengths))
        for b, item in enumerate(items):
            alone = run_whole(model, item)
            assert int(out_lengths[b]) == alone.shape[0]
            torch.testing.assert_close(log_probs[b, : alone.shape[0]], alone, atol=1e-5, rtol=0)
            if not bidirectional:
                _, _, alone_state = model(item[None], torch.tensor([len(item)]))
                torch.testing.assert_close(state.h[:, b], alone_state.h[:, 0], atol=1e-5, rtol=0)
    assert (state is None) == bidirectional


@pytest.mark.parametrize("silent_start", [0, 3])
@pytest.mark.parametrize("cell", CELLS)
def test_many_streams_in_one_batched_call_equal_each_stream_alone(cell, silent_start):
    """What the server does: every tick, the streams with new audio are stepped together."""
    model = tiny(cell, silent_start=silent_start)
    rng = random.Random(cell)
    n_streams = 4
    utterances = [torch.randn(rng.randint(10, 30), N_MELS) for _ in range(n_streams)]
    sizes = [random_sizes(rng, len(u), (0, 1, 2, 4, 6)) for u in utterances]
    with torch.no_grad():
        expected = [run_whole(model, u) for u in utterances]
        states = [None] * n_streams
        outputs = [[] for _ in range(n_streams)]
        positions = [0] * n_streams
        ticks = max(len(s) for s in sizes)
        for tick in range(ticks):
            chunks = []
            for k in range(n_streams):
                n = sizes[k][tick] if tick < len(sizes[k]) else 0
                chunks.append(utterances[k][positions[k] : positions[k] + n])
                positions[k] += n
            lengths = torch.tensor([len(c) for c in chunks])
            batch = torch.zeros(n_streams, max(int(lengths.max()), 0), N_MELS)
            for k, c in enumerate(chunks):
                batch[k, : len(c)] = c
            log_probs, out_lengths, state = model(batch, lengths, model.batch_states(states))
            states = model.split_state(state)
            for k in range(n_streams):
                outputs[k].append(log_probs[k, : int(out_lengths[k])])
    for k in range(n_streams):
        torch.testing.assert_close(torch.cat(outputs[k]), expected[k], atol=1e-5, rtol=0)


def test_silent_start_forces_blank_on_the_first_output_frames_only():
    plain, silent = tiny(), tiny(silent_start=3)  # same seed: same weights
    feats = torch.randn(40, N_MELS)
    with torch.no_grad():
        want, got = run_whole(plain, feats), run_whole(silent, feats)
        streamed = run_chunks(silent, feats, [1, 2, 4, 3, 30])
    assert torch.equal(got[:3].argmax(-1), torch.zeros(3, dtype=torch.long))
    assert torch.allclose(got[:3].exp().sum(-1), torch.ones(3)) and float(got[:3, 0].max()) == 0.0
    torch.testing.assert_close(got[3:], want[3:])
    torch.testing.assert_close(streamed, got)
    with pytest.raises(ValueError, match="silent_start"):
        AcousticConfig(silent_start=-1)
    # A training loss keeps only utterances whose labels fit after the silent start.
    from speech.data import Batch
    from speech.train import _ctc_loss

    labels = torch.tensor([[1, 2, 3, 4, 5, 6], [1, 2, 0, 0, 0, 0]])
    batch = Batch(feats=torch.zeros(2, 24, N_MELS), feat_lengths=torch.tensor([24, 24]), labels=labels,
                  label_lengths=torch.tensor([6, 2]), texts=["abcdef", "ab"], indices=[0, 1], seconds=0.5)
    log_probs = torch.log_softmax(torch.randn(2, 8, 7), dim=-1)
    assert _ctc_loss(log_probs, torch.tensor([8, 8]), batch)[1:] == (2, 0)
    assert _ctc_loss(log_probs, torch.tensor([8, 8]), batch, silent_start=3)[1:] == (1, 1)


def test_batch_and_split_states():
    model = tiny()
    assert model.batch_states([None, None]) is None
    with torch.no_grad():
        _, _, state = model(torch.randn(1, 7, N_MELS), torch.tensor([7]))
    batched = model.batch_states([None, state, None])
    assert batched.h.shape == (2, 3, 16) and batched.frames.shape == (3, 2, N_MELS)
    parts = model.split_state(batched)
    assert len(parts) == 3
    fresh = model.initial_state(1)
    for got, want in zip(parts, [fresh, state, fresh]):
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b)


# ------------------------------------------------------------------ bidirectional is offline only


def test_bidirectional_refuses_streaming():
    model = tiny(bidirectional=True)
    assert not model.streaming
    uni_state = tiny().initial_state(1)
    with pytest.raises(ValueError, match="bidirectional models are offline only"):
        model(torch.randn(1, 9, N_MELS), torch.tensor([9]), uni_state)
    for call in (lambda: model.initial_state(1), lambda: model.batch_states([None]),
                 lambda: model.split_state(uni_state)):
        with pytest.raises(ValueError, match="bidirectional models are offline only"):
            call()
    with torch.no_grad():
        log_probs, lengths, state = model(torch.randn(2, 9, N_MELS), torch.tensor([9, 6]))
    assert state is None and log_probs.shape == (2, 3, 7) and lengths.tolist() == [3, 2]


# ------------------------------------------------------------------ save / load


@pytest.mark.parametrize("cell", CELLS)
def test_state_dict_round_trip(cell):
    model = tiny(cell, input_proj=8)
    buffer = io.BytesIO()
    torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    assert "feat_mean" in saved["state_dict"] and "feat_std" in saved["state_dict"]
    torch.manual_seed(123)  # different initial weights: everything must come from the state dict
    loaded = AcousticModel(AcousticConfig.from_dict(saved["config"])).eval()
    loaded.load_state_dict(saved["state_dict"])
    feats = torch.randn(2, 15, N_MELS)
    with torch.no_grad():
        a, _, _ = model(feats, torch.tensor([15, 10]))
        b, _, _ = loaded(feats, torch.tensor([15, 10]))
    torch.testing.assert_close(a, b, atol=0, rtol=0)


# ------------------------------------------------------------------ the cells themselves


def test_peephole_cell_without_peepholes_is_a_plain_lstm():
    torch.manual_seed(0)
    peephole = AcousticModel(AcousticConfig(n_mels=N_MELS, stack=1, stride=1, hidden=8, layers=1,
                                            cell="lstm_peephole", vocab_size=5)).eval()
    plain = AcousticModel(AcousticConfig(n_mels=N_MELS, stack=1, stride=1, hidden=8, layers=1,
                                         cell="lstm", vocab_size=5)).eval()
    cell = peephole.rnn.cells[0]
    with torch.no_grad():
        plain.rnn.weight_ih_l0.copy_(cell.w_ih)
        plain.rnn.weight_hh_l0.copy_(cell.w_hh)
        plain.rnn.bias_ih_l0.copy_(cell.bias)
        plain.rnn.bias_hh_l0.zero_()
        plain.output.load_state_dict(peephole.output.state_dict())
        feats = torch.randn(1, 10, N_MELS)
        with_peepholes, _, _ = peephole(feats)
        for p in (cell.w_ci, cell.w_cf, cell.w_co):
            p.zero_()
        without, _, _ = peephole(feats)
        reference, _, _ = plain(feats)
    torch.testing.assert_close(without, reference, atol=1e-5, rtol=0)
    assert not torch.allclose(with_peepholes, reference, atol=1e-4)  # the gates do see the cell state


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_gradients_flow(cell, bidirectional):
    model = tiny(cell, bidirectional=bidirectional, input_proj=5).train()
    log_probs, lengths, _ = model(torch.randn(2, 12, N_MELS), torch.tensor([12, 7]))
    log_probs[0, : int(lengths[0])].sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.output.weight.grad.abs().sum() > 0


def test_inference_and_training_kernels_agree_and_onednn_setting_is_restored():
    """Inference runs nn.LSTM on native CPU kernels (oneDNN costs ~1 ms per layer per call)."""
    model = tiny()
    feats = torch.randn(2, 20, N_MELS)
    enabled = torch.backends.mkldnn.enabled
    with torch.no_grad():
        fast, _, _ = model(feats, torch.tensor([20, 13]))
    assert torch.backends.mkldnn.enabled == enabled
    reference, _, _ = model(feats, torch.tensor([20, 13]))  # grad mode: default kernels
    torch.testing.assert_close(fast, reference.detach(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_without_a_final_state_padding_changes_no_output_or_gradient(cell, bidirectional):
    """final_state=False (training) runs one-way models unpacked: same log-probs and gradients within each length."""
    model = tiny(cell, bidirectional=bidirectional, input_proj=5, dropout=0.0).train()
    lengths = torch.tensor([17, 5, 12, 9])
    feats = torch.randn(len(lengths), 17, N_MELS)
    for b, n in enumerate(lengths.tolist()):
        feats[b, n:] = 100.0  # loud padding: any leak would show

    def loss_and_grads(**kwargs):
        model.zero_grad()
        log_probs, out_lengths, state = model(feats, lengths, **kwargs)
        kept = [log_probs[b, : int(n)] for b, n in enumerate(out_lengths)]
        loss = sum((k * torch.arange(k.numel()).view_as(k).sin()).sum() for k in kept)
        loss.backward()
        return kept, [p.grad.clone() for p in model.parameters()], state

    packed, packed_grads, packed_state = loss_and_grads()
    padded, padded_grads, padded_state = loss_and_grads(final_state=False)
    assert padded_state is None and (packed_state is None) == bidirectional
    for a, b in zip(packed, padded):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=0)
    for a, b in zip(packed_grads, padded_grads):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------ widening (Net2WiderNet)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("proj", [0, 8])
def test_widened_model_computes_the_same_function_and_streams(cell, proj):
    from speech.model import widen_model

    model = tiny(cell, layers=3, input_proj=proj, silent_start=2)
    wide = widen_model(model, 29, seed=3).eval()
    assert wide.config.hidden == 29 and wide.config.layers == 3 and wide.config.cell == cell
    assert wide.num_parameters() > model.num_parameters()
    torch.testing.assert_close(wide.feat_mean, model.feat_mean)
    feats = torch.randn(2, 40, N_MELS)
    with torch.no_grad():
        a, la, _ = model(feats, torch.tensor([40, 23]))
        b, lb, _ = wide(feats, torch.tensor([40, 23]))
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
        assert torch.equal(la, lb)
        # the wide model is an ordinary model: chunked streaming still equals one pass
        torch.testing.assert_close(run_chunks(wide, feats[0], random_sizes(random.Random(1), 40)),
                                   run_whole(wide, feats[0]), atol=1e-5, rtol=1e-5)


def test_widening_noise_breaks_symmetry_a_little_and_same_width_is_a_copy():
    from speech.model import widen_model

    model = tiny("lstm", layers=2)
    feats = torch.randn(1, 30, N_MELS)
    with torch.no_grad():
        a = run_whole(model, feats[0])
        noisy = widen_model(model, 24, noise=0.05, seed=0).eval()
        b = run_whole(noisy, feats[0])
        assert 0 < (a - b).abs().max() < 0.5
        new_units = noisy.rnn.weight_ih_l0[16:24]  # the input gate rows of the 8 new units
        copied = model.rnn.weight_ih_l0
        assert not any(torch.equal(row, old) for row in new_units for old in copied)
        same = widen_model(model, 16, noise=0.05).eval()  # nothing new to perturb
        torch.testing.assert_close(run_whole(same, feats[0]), a, atol=1e-6, rtol=1e-6)
    for key, value in model.state_dict().items():  # the source model is left alone
        assert value.shape == tiny("lstm", layers=2).state_dict()[key].shape


@pytest.mark.parametrize("kwargs, message", [
    (dict(hidden=8), "hidden must be"),
    (dict(hidden=20.0), "hidden must be"),
    (dict(hidden=True), "hidden must be"),
    (dict(hidden=20, noise=-1), "noise must be"),
    (dict(hidden=20, noise=float("nan")), "noise must be"),
])
def test_widening_refuses_bad_values(kwargs, message):
    from speech.model import widen_model

    with pytest.raises(ValueError, match=message):
        widen_model(tiny("lstm"), **kwargs)


@pytest.mark.parametrize("overrides", [dict(cell="lstm_peephole"), dict(bidirectional=True)])
def test_widening_refuses_cells_it_cannot_copy(overrides):
    from speech.model import widen_model

    with pytest.raises(ValueError, match="widening supports"):
        widen_model(tiny(**overrides), 20)
