"""scripts/average_checkpoints.py: the mean of the weights, loadable as a Recognizer; clear errors."""
import importlib.util
from pathlib import Path

import pytest
import torch

from speech import Recognizer
from test_recognizer import make_recognizer

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("average_checkpoints", ROOT / "scripts" / "average_checkpoints.py")
average_checkpoints = importlib.util.module_from_spec(spec)
spec.loader.exec_module(average_checkpoints)


def test_mean_of_two_checkpoints(tmp_path):
    a = make_recognizer(seed=0).save(tmp_path / "a.pt")
    b = make_recognizer(seed=1).save(tmp_path / "b.pt")
    assert average_checkpoints.main([str(a), str(b), "--out", str(tmp_path / "avg.pt")]) == 0
    wa, wb = (torch.load(p, weights_only=True)["state_dict"] for p in (a, b))
    avg = Recognizer.load(tmp_path / "avg.pt")
    for name, value in avg.model.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, (wa[name] + wb[name]) / 2, atol=1e-6), name
    assert avg.metrics["averaged_from"] == [str(a), str(b)]


def test_refuses_different_models_and_single_inputs(tmp_path, capsys):
    from speech import AcousticConfig, AcousticModel, Alphabet, FeatureConfig

    a = make_recognizer().save(tmp_path / "a.pt")
    other = Recognizer(AcousticModel(AcousticConfig(hidden=16, layers=1, vocab_size=len(Alphabet()))), Alphabet(),
                       FeatureConfig()).save(tmp_path / "other.pt")
    assert average_checkpoints.main([str(a), str(other), "--out", str(tmp_path / "x.pt")]) == 2
    assert "different model" in capsys.readouterr().err
    assert average_checkpoints.main([str(a), "--out", str(tmp_path / "x.pt")]) == 2
    assert "at least two" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
