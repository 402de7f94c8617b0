"""Decoder tuning: the grid's numbers are real WERs, the winner is stored in the checkpoint and used by load."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from speech import Recognizer
from speech.lm import NGramLM
from speech.train import tune_decoder, wer
from test_recognizer import make_recognizer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny(tmp_path):
    lm = NGramLM.build(["turn on the light", "stop the music", "what time is it"] * 3, order=2)
    rec = make_recognizer(seed=3, lm=lm, beam_size=4)
    rng = np.random.default_rng(0)
    rows = []
    for k, text in enumerate(["turn on the light", "stop", "what time is it"]):
        path = tmp_path / f"u{k}.wav"
        soundfile.write(path, (0.2 * rng.standard_normal(12000 + 4000 * k)).astype(np.float32), 16000)
        rows.append({"audio": str(path), "text": text, "duration": 1.0})
    manifest = tmp_path / "dev.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rec, manifest, rows


def test_grid_scores_are_the_wer_of_each_setting(tiny):
    rec, manifest, rows = tiny
    result = tune_decoder(rec, manifest, lm_weights=[0.0, 2.0], word_bonuses=[-3.0, 3.0])
    assert result["n_utts"] == 3 and len(result["grid"]) == 5  # 4 pairs + the recognizer's own (0.5, 1.0)
    refs = [r["text"] for r in rows]
    for cell in result["grid"]:
        tuned = make_recognizer(seed=3, lm=rec.lm, beam_size=4, lm_weight=cell["lm_weight"],
                                word_bonus=cell["word_bonus"])
        hyps = [" ".join(tuned.transcribe(soundfile.read(r["audio"], dtype="float32")[0]).text.split()) for r in rows]
        assert cell["wer"] == pytest.approx(wer(refs, hyps))
    assert result["best"]["wer"] == min(cell["wer"] for cell in result["grid"])
    assert (rec.lm_weight, rec.word_bonus) == (0.5, 1.0)  # the recognizer itself is not changed

    with pytest.raises(ValueError, match="word LM"):
        tune_decoder(make_recognizer(), manifest)
    with pytest.raises(ValueError, match="penalties"):
        tune_decoder(rec, manifest, unk_penalties=[3.0])
    with pytest.raises(ValueError):
        tune_decoder(rec, manifest, lm_weights=[-1.0])


def test_beam_sizes_and_unknown_word_penalties_are_grid_dimensions(tiny):
    """Each (beam, penalty) cell is the WER of a recognizer built with those settings; decode time is kept."""
    rec, manifest, rows = tiny
    result = tune_decoder(rec, manifest, lm_weights=[0.5], word_bonuses=[1.0], beam_sizes=[2, 8],
                          unk_penalties=[-1.0, -30.0])
    assert len(result["grid"]) == 5  # 2 beams x 2 penalties + the recognizer's own (beam 4, -5)
    refs = [r["text"] for r in rows]
    for cell in result["grid"]:
        tuned = make_recognizer(seed=3, lm=rec.lm, beam_size=cell["beam_size"], unk_penalty=cell["unk_penalty"])
        hyps = [" ".join(tuned.transcribe(soundfile.read(r["audio"], dtype="float32")[0]).text.split()) for r in rows]
        assert cell["wer"] == pytest.approx(wer(refs, hyps))
        assert cell["decode_rtf"] >= 0
    assert result["current"]["beam_size"] == 4 and result["current"]["unk_penalty"] == -5.0
    assert result["beam_size"] == result["best"]["beam_size"]


def test_saved_settings_are_loaded_and_arguments_win(tmp_path):
    rec = make_recognizer(lm_weight=0.25, word_bonus=2.5, beam_size=6, unk_penalty=-12.0)
    path = rec.save(tmp_path / "m.pt")
    loaded = Recognizer.load(path)
    assert (loaded.lm_weight, loaded.word_bonus, loaded.beam_size, loaded.unk_penalty) == (0.25, 2.5, 6, -12.0)
    assert Recognizer.load(path, lm_weight=0.9).lm_weight == 0.9

    ckpt = torch.load(path, weights_only=True)
    del ckpt["decoding"]  # a checkpoint from before decoder settings were saved: the defaults
    torch.save(ckpt, path)
    assert (Recognizer.load(path).lm_weight, Recognizer.load(path).word_bonus) == (0.5, 1.0)
    assert Recognizer.load(path).unk_penalty == -5.0

    ckpt["decoding"] = {"lm_weight": "heavy"}
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="lm_weight"):
        Recognizer.load(path)
    with pytest.raises(ValueError):
        make_recognizer(lm_weight=float("nan"))


def test_script_writes_the_winner_into_the_checkpoint(tiny, tmp_path):
    rec, manifest, _ = tiny
    model = rec.save(tmp_path / "model.pt")
    rec.lm.save_arpa(tmp_path / "model.arpa")
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "tune_decoder.py"), str(model), "--dev",
                          str(manifest), "--lm-weights=0,2", "--word-bonuses=-3,3", "--beams", "2,4",
                          "--unk-penalties=-2,-20", "--write",
                          "--json", str(tmp_path / "grid.json")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    best = json.loads((tmp_path / "grid.json").read_text())["best"]
    loaded = Recognizer.load(model)
    assert (loaded.lm_weight, loaded.word_bonus, loaded.beam_size, loaded.unk_penalty) == (
        best["lm_weight"], best["word_bonus"], best["beam_size"], best["unk_penalty"])
    assert "best" in run.stdout

    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "tune_decoder.py"), str(model), "--dev",
                          str(tmp_path / "missing.jsonl")], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
