"""bench/compare_models.py: two real (tiny) checkpoints decode the same clips; the paired rows are their WERs."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speech import Recognizer, load_audio
from speech.lm import NGramLM
from speech.train import wer
from speech.vocab import normalize_text
from test_recognizer import make_recognizer

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("compare_models", ROOT / "bench" / "compare_models.py")
compare_models = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_models)

TEXTS = ["turn on the light", "stop", "what time is it", "go", "yes", "play music"]


@pytest.fixture
def setup(tmp_path):
    lm = NGramLM.build(TEXTS * 3, order=2)
    models = []
    for seed in (3, 4):
        path = tmp_path / f"m{seed}" / "en.pt"
        make_recognizer(seed=seed, beam_size=4).save(path)
        lm.save_arpa(path.with_suffix(".arpa"))
        models.append(path)
    rng = np.random.default_rng(0)
    manifests = []
    for m in range(2):
        rows = []
        for k, text in enumerate(TEXTS[3 * m: 3 * m + 3]):
            audio = tmp_path / f"u{m}{k}.wav"
            soundfile.write(audio, (0.2 * rng.standard_normal(8000 + 3000 * k)).astype(np.float32), 16000)
            rows.append({"audio": str(audio), "text": text, "duration": 1.0})
        manifests.append(tmp_path / f"set{m}.jsonl")
        manifests[-1].write_text("".join(json.dumps(r) + "\n" for r in rows))
    return models, manifests


def test_rows_are_the_two_models_wers_on_every_set_and_on_all(setup, tmp_path, capsys):
    models, manifests = setup
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("\n".join(TEXTS) + "\n")
    out = tmp_path / "cmp.json"
    assert compare_models.main([str(models[0]), str(models[1]), *map(str, manifests),
                                "--phrases", str(phrases), "--json", str(out)]) == 0
    saved = json.loads(out.read_text())
    refs = [normalize_text(t) for t in TEXTS]
    assert saved["refs"] == refs
    assert set(saved["sets"]) == {"all", "set0", "set1"}
    # greedy, beam+LM (both checkpoints carry an LM beside them) and command mode, on every set
    assert [r["decoder"] for r in saved["sets"]["set1"]] == ["greedy", "beam+LM", "phrases"]
    old_greedy = Recognizer.load(models[0], beam_size=1)
    old_greedy.lm = None
    expected = [normalize_text(old_greedy.transcribe(load_audio(json.loads(line)["audio"])).text)
                for m in manifests for line in m.read_text().splitlines()]
    assert saved["hyps"]["old"]["ours greedy"]["hyps"] == expected
    for row in saved["sets"]["all"]:
        name = "ours " + row["decoder"]
        assert row["old"] == pytest.approx(wer(refs, saved["hyps"]["old"][name]["hyps"]))
        assert row["new"] == pytest.approx(wer(refs, saved["hyps"]["new"][name]["hyps"]))
        assert row["diff"] == pytest.approx(row["new"] - row["old"])
        assert row["low"] <= row["diff"] <= row["high"]
    table = capsys.readouterr().out
    assert "| all | greedy | 6 |" in table and "| set0 | phrases | 3 |" in table


def test_the_same_hypotheses_are_a_tie_of_zero():
    refs = ["stop the music", "go"]
    decoded = {"ours greedy": {"hyps": ["stop music", "go"]}}
    rows = compare_models.compare(refs, decoded, decoded)
    assert rows[0]["diff"] == 0 and rows[0]["low"] == 0 and rows[0]["high"] == 0
    assert compare_models.verdict({**rows[0], "n": 5}) == "tie"
    assert compare_models.verdict({**rows[0], "n": 5, "low": -0.3, "high": -0.1}) == "new better"


def test_bad_input_is_a_one_line_error(setup, tmp_path):
    models, manifests = setup
    with pytest.raises(SystemExit) as err:
        compare_models.main([str(models[0]), str(tmp_path / "missing.pt"), str(manifests[0])])
    assert err.value.code == 2
    with pytest.raises(SystemExit):
        compare_models.main([str(models[0]), str(models[1]), str(manifests[0]), "--sample", "0"])
    lost = tmp_path / "lost.jsonl"  # a manifest whose audio is gone
    lost.write_text(json.dumps({"audio": str(tmp_path / "gone.wav"), "text": "stop", "duration": 1.0}) + "\n")
    with pytest.raises(SystemExit) as err:
        compare_models.main([str(models[0]), str(models[1]), str(lost)])
    assert err.value.code == 2
