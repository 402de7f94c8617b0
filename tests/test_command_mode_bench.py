"""bench/command_mode.py: per-clip gaps agree with the recognizer, and the margin trade-off is scored right."""
import importlib.util
from pathlib import Path

import numpy as np

from speech import PhraseDecoder
from speech.data import ManifestEntry
from test_recognizer import make_recognizer, noise

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("command_mode", ROOT / "bench" / "command_mode.py")
command_mode = importlib.util.module_from_spec(spec)
spec.loader.exec_module(command_mode)


def test_gaps_reproduce_the_recognizers_decisions(tmp_path):
    import soundfile

    rec = make_recognizer()
    phrases = ["yes", "no", "turn on the light"]
    entries = []
    for k in range(4):
        path = tmp_path / f"c{k}.wav"
        soundfile.write(path, noise(0.8 + 0.3 * k, seed=k), 16000)
        entries.append(ManifestEntry(audio=str(path), text="yes", duration=1.0))
    rows = command_mode.clip_gaps(rec, PhraseDecoder(rec.alphabet, phrases, reject_margin=0.0, n_best=2), entries)
    for margin in (0.0, 2.0, 35.0, 50.0, 1e6):  # the tiny model's gaps are 34-61 nats: both outcomes occur
        rec.phrase_margin = margin
        for row, entry in zip(rows, entries):
            text = rec.transcribe(soundfile.read(entry.audio, dtype="float32")[0], phrases=phrases).text
            assert text == ("" if row["gap"] > margin else row["phrase"]), (margin, row)


def test_score_counts_wrong_rejected_and_false_accepts():
    in_rows = [{"ref": "yes", "phrase": "yes", "gap": -1.0}, {"ref": "no", "phrase": "yes", "gap": 3.0},
               {"ref": "no", "phrase": "no", "gap": 7.0}]
    out_rows = [{"ref": "maybe", "phrase": "no", "gap": 1.0}, {"ref": "hello there", "phrase": "no", "gap": 40.0}]
    at2 = command_mode.score(in_rows, out_rows, 2.0)
    assert (at2["wrong"], at2["rejected"], at2["false_accept"]) == (0.0, 2 / 3, 0.5)
    at5 = command_mode.score(in_rows, out_rows, 5.0)
    assert (at5["wrong"], at5["rejected"], at5["in_list_wer"]) == (1 / 3, 1 / 3, 2 / 3)
    assert command_mode.score(in_rows, out_rows, np.inf)["false_accept"] == 1.0
