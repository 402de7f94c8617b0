"""bench/first_partial.py: the recognizer's own onset -> first partial delay, with clear errors."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
spec = importlib.util.spec_from_file_location("first_partial", ROOT / "bench" / "first_partial.py")
first_partial = importlib.util.module_from_spec(spec)
spec.loader.exec_module(first_partial)

from test_recognizer import make_recognizer  # noqa: E402


def test_delays_are_measured_from_the_onset_in_audio_time(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for k in range(3):  # 0.5 s of near silence, then loud noise the untrained model "hears" as letters
        audio = np.concatenate([0.0005 * rng.standard_normal(8000), 0.3 * rng.standard_normal(16000)]).astype(np.float32)
        soundfile.write(tmp_path / f"{k}.wav", audio, 16000)
        rows.append({"audio": f"{k}.wav", "text": "x", "duration": 1.5})
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recordings = first_partial.load_test.from_manifest(tmp_path / "m.jsonl", 3)
    assert all(abs(r.onset - 0.5) < 0.02 for r in recordings)
    model = tmp_path / "tiny.pt"
    make_recognizer().save(model)
    delays = first_partial.emission_delays_ms(first_partial.Recognizer.load(model), recordings)
    assert len(delays) == 3 and all(0 <= d <= 1000 for d in delays)
    out = tmp_path / "fp.json"
    assert first_partial.main([str(tmp_path / "m.jsonl"), "--models", str(model), "--recordings", "3",
                               "--out", str(out)]) == 0
    row = json.loads(out.read_text())["models"][str(model)]
    assert row["n"] == 3 and row["without_partial"] == 0


def test_bad_arguments(tmp_path):
    with pytest.raises(SystemExit, match="manifest not found"):
        first_partial.main([str(tmp_path / "missing.jsonl")])
    (tmp_path / "m.jsonl").write_text("")
    with pytest.raises(SystemExit, match="--recordings"):
        first_partial.main([str(tmp_path / "m.jsonl"), "--recordings", "0"])
