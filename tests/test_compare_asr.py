"""bench/compare_asr.py: intervals, paired comparisons with PocketSphinx, and joining saved runs."""
import importlib.util
import json
from pathlib import Path

import pytest

from speech.train import wer

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("compare_asr", ROOT / "bench" / "compare_asr.py")
compare_asr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_asr)

REFS = ["yes", "no", "stop", "go", "turn on the light", "what time is it"] * 3
HYPS = {
    "ours greedy": ["yes", "know", "top", "go", "turn on a light", "what time is"] * 3,
    "ours beam+LM": ["yes", "no", "stop", "go", "turn on the light", "what time is"] * 3,
    "pocketsphinx": ["yes", "no", "stop", "so", "turn of the night", "what time is it"] * 3,
    "ours phrases": ["yes", "no", "stop", "go", "", "what time is it"] * 3,
    "pocketsphinx phrases": ["yes", "go", "stop", "go", "turn on the light", "what time is it"] * 3,
}


def saved_run(path: Path, name: str, phrases_file: Path) -> Path:
    utterances = [{"audio": f"{k}.flac", "corpus": "words" if len(r.split()) == 1 else "sentences", "ref": r,
                   **{s: h[k] for s, h in HYPS.items()}} for k, r in enumerate(REFS)]
    results = {name: [{"system": s, "wer": wer(REFS, h), "cer": 0.0, "rtf": 0.01, "n": len(REFS)} for s, h in HYPS.items()]}
    words = [u for u in utterances if u["corpus"] == "words"]
    results[f"{name}/words"] = [{"system": s, "wer": wer([u["ref"] for u in words], [u[s] for u in words]),
                                 "cer": 0.0, "rtf": 0.01, "n": len(words)} for s in HYPS]
    path.write_text(json.dumps({"model": "en", "lm": None, "corpus": None, "phrases": str(phrases_file),
                                "results": results, "utterances": {name: utterances}}))
    return path


def test_merge_rescores_intervals_and_compares_with_the_matching_peer(tmp_path, monkeypatch):
    monkeypatch.setattr(compare_asr, "plot", lambda results, path: None)  # matplotlib is a bench extra
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("yes\nno\nstop\ngo\n")
    a, b = saved_run(tmp_path / "a.json", "set_a", phrases), saved_run(tmp_path / "b.json", "set_b", phrases)
    compare_asr.main(["--merge", str(a), str(b), "--out", str(tmp_path / "joined")])

    joined = json.loads((tmp_path / "joined.json").read_text())
    assert set(joined["results"]) == {"set_a", "set_a/words", "set_b", "set_b/words"}
    for rows in joined["results"].values():
        for r in rows:
            low, high = r["wer_ci"]
            assert low <= r["wer"] <= high
    versus = joined["versus_pocketsphinx"]
    # the free decoders are compared everywhere; command mode only where every reference is a phrase
    assert [(r["system"], r["peer"]) for r in versus["set_a"]] == [("ours beam+LM", "pocketsphinx")]
    assert [(r["system"], r["peer"]) for r in versus["set_a/words"]] == [
        ("ours beam+LM", "pocketsphinx"), ("ours phrases", "pocketsphinx phrases")]
    free = versus["set_a"][0]
    assert free["diff"] == pytest.approx(wer(REFS, HYPS["ours beam+LM"]) - wer(REFS, HYPS["pocketsphinx"]))
    table = (tmp_path / "joined.md").read_text()
    assert "| set_b/words | ours phrases | pocketsphinx phrases |" in table and "WER 95 % CI" in table


def test_verdicts_need_an_interval_that_excludes_zero_and_enough_utterances():
    assert compare_asr.verdict({"n": 50, "low": -0.2, "high": -0.01}) == "ours better"
    assert compare_asr.verdict({"n": 50, "low": 0.01, "high": 0.2}) == "PocketSphinx better"
    assert compare_asr.verdict({"n": 50, "low": -0.1, "high": 0.1}) == "tie"
    assert compare_asr.verdict({"n": 3, "low": 0.5, "high": 0.5}) == "too few utterances"


def test_merge_and_manifests_are_exclusive(tmp_path):
    with pytest.raises(SystemExit):
        compare_asr.main([])
    with pytest.raises(SystemExit):
        compare_asr.main(["x.jsonl", "--merge", "a.json"])
