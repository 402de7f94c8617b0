"""scripts/widen_speech_model.py: a wider Recognizer that hears the same; clear errors."""
import importlib.util
from pathlib import Path

import numpy as np

from speech import Recognizer
from test_recognizer import make_recognizer

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("widen_speech_model", ROOT / "scripts" / "widen_speech_model.py")
widen_speech_model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(widen_speech_model)


def test_widened_checkpoint_loads_as_a_recognizer_with_the_same_posteriors(tmp_path):
    narrow = make_recognizer(seed=0)
    source = narrow.save(tmp_path / "narrow.pt")
    out = tmp_path / "wide" / "wide.pt"
    hidden = narrow.model.config.hidden + 7
    assert widen_speech_model.main([str(source), "--hidden", str(hidden), "--noise", "0", "--out", str(out)]) == 0
    wide = Recognizer.load(out)
    assert wide.model.config.hidden == hidden
    samples = np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    np.testing.assert_allclose(wide.log_probs(samples), narrow.log_probs(samples), atol=1e-4)
    assert wide.transcribe(samples).text == narrow.transcribe(samples).text


def test_bad_width_or_file_is_one_line_and_status_2(tmp_path, capsys):
    source = make_recognizer(seed=0).save(tmp_path / "narrow.pt")
    assert widen_speech_model.main([str(source), "--hidden", "1", "--out", str(tmp_path / "w.pt")]) == 2
    assert widen_speech_model.main([str(tmp_path / "missing.pt"), "--hidden", "64", "--out",
                                    str(tmp_path / "w.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("widen_speech_model: ") for line in err)
    assert not (tmp_path / "w.pt").exists()
