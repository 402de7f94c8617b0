"""bench/eval_sets.py: every test row in exactly one reported set, audio paths still found."""

import importlib.util
import json
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("eval_sets", Path(__file__).parent.parent / "bench" / "eval_sets.py")
eval_sets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eval_sets)


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_split_by_age_digits_and_corpus_with_paths_relative_to_the_output(tmp_path):
    (tmp_path / "data" / "a").mkdir(parents=True)
    for name in ("1.wav", "2.wav", "3.wav", "4.wav", "5.wav"):
        (tmp_path / "data" / "a" / name).write_bytes(b"")
    rows = [
        {"audio": "a/1.wav", "text": "SHE READS", "duration": 1, "corpus": "speechocean762", "age": 8},
        {"audio": "a/2.wav", "text": "HE READS", "duration": 1, "corpus": "speechocean762", "age": 30},
        {"audio": "a/3.wav", "text": "SEVEN", "duration": 1, "corpus": "speech_commands"},
        {"audio": "a/4.wav", "text": "LEFT", "duration": 1, "corpus": "speech_commands"},
        {"audio": "a/5.wav", "text": "A SENTENCE", "duration": 1, "corpus": "cmu_arctic"},
    ]
    manifest = _write(tmp_path / "data" / "test.jsonl", rows)
    out = tmp_path / "eval"
    counts = eval_sets.split_manifest(manifest, out)
    assert counts == {"cmu_arctic_test": 1, "speech_commands_test_digits": 1, "speech_commands_test_words": 1,
                      "speechocean762_test_adults": 1, "speechocean762_test_children": 1}
    children = [json.loads(x) for x in (out / "speechocean762_test_children.jsonl").read_text().splitlines()]
    assert children[0]["age"] == 8 and not Path(children[0]["audio"]).is_absolute()
    assert (out / children[0]["audio"]).resolve() == (tmp_path / "data" / "a" / "1.wav").resolve()
    digits = (out / "speech_commands_test_digits.jsonl").read_text()
    assert "SEVEN" in digits and "LEFT" not in digits


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        eval_sets.split_manifest(tmp_path / "missing.jsonl", tmp_path / "out")
    bad = _write(tmp_path / "test.jsonl", [{"audio": "x.wav", "text": "HI", "duration": 1, "corpus": "speechocean762"}])
    with pytest.raises(ValueError, match="no numeric age"):
        eval_sets.split_manifest(bad, tmp_path / "out")
    with pytest.raises(SystemExit, match="eval_sets: .*no numeric age"):
        eval_sets.main([str(bad), "--out", str(tmp_path / "out")])
