"""The label-check rules of the data build (scripts/speechdata/verify.py), without PocketSphinx."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from speechdata.verify import chance_wer, group_rule, word_error_rate  # noqa: E402


def test_word_error_rate_counts_edits_over_reference_length():
    assert word_error_rate("turn on the light".split(), "turn on the light".split()) == 0.0
    assert word_error_rate("turn on the light".split(), "turn the lights".split()) == pytest.approx(2 / 4)
    assert word_error_rate("yes".split(), []) == 1.0
    assert word_error_rate([], "noise".split()) == 1.0  # empty reference: edits over max(1, 0)


def test_chance_wer_compares_against_other_labels_of_similar_length():
    pool = ["open the door", "close the window", "play some music", "stop"]
    hyp = "open the door".split()
    # the own label is excluded, so a perfect decode still scores above zero against chance
    chance = chance_wer(hyp, "open the door", pool, key="clip-1")
    assert chance > 0.5
    assert chance == chance_wer(hyp, "open the door", pool, key="clip-1")  # deterministic per clip
    assert chance_wer(["x"], "only", ["only"], key="k") == 1.0  # no other label: chance is total failure


def _decision(audio, wer, chance):
    return {"audio": audio, "wer": wer, "random_label_wer": chance, "ok": wer < chance}


def test_group_rule_drops_groups_that_fit_no_better_than_chance():
    decisions = [_decision("a1", 0.2, 1.0), _decision("a2", 0.5, 1.0), _decision("a3", 1.2, 1.0),   # good file
                 _decision("b1", 1.0, 1.0), _decision("b2", 1.1, 0.9), _decision("b3", 0.4, 1.0),   # shifted file
                 _decision("c1", 1.5, 1.0), _decision("c2", 1.4, 1.0)]                              # too few decoded
    group_of = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "b3": "B", "c1": "C", "c2": "C"}
    assert group_rule(decisions, group_of) == {"B"}
    assert group_rule(decisions, group_of, min_decoded=2) == {"B", "C"}


class _FakeChecker:
    """Stands in for LabelChecker: the 'decode' of a clip is its file name; counts real decodes."""

    def __init__(self):
        self.decoded = []

    def check(self, audio, text, hyp=None):
        if hyp is None:
            self.decoded.append(audio)
            hyp = audio
        return {"audio": audio, "hyp": hyp, "ok": hyp == text}


def test_check_log_rejudges_stored_decodes_and_flushes_as_it_goes(tmp_path):
    import json

    from speechdata.verify import CheckLog

    rows = [{"audio": f"c{i}", "text": f"c{i}" if i % 2 == 0 else "other"} for i in range(5)]
    log_path = tmp_path / "verify.jsonl"
    log_path.write_text(json.dumps({"audio": "c0", "hyp": "c0", "ok": False}) + "\n"
                        + json.dumps({"audio": "gone", "hyp": "x", "ok": True}) + "\n")  # not a row any more
    checker = _FakeChecker()
    checks = CheckLog(checker, rows, log_path, tag=lambda d, r: {**d, "text": r["text"]})
    assert checks.done == {"c0"} and checks.decisions[0]["ok"] is True  # re-judged, not decoded
    flushes = []

    def flush():
        checks.save()
        flushes.append(len(checks.decisions))
        return len(checks.decisions)

    assert checks.decode([r for r in rows if r["audio"] not in checks.done], flush, "test", every=2) == 5
    assert checker.decoded == ["c1", "c2", "c3", "c4"] and flushes == [3, 5, 5]
    saved = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [d["audio"] for d in saved] == ["c0", "c1", "c2", "c3", "c4"]
    assert [d["ok"] for d in saved] == [True, False, True, False, True] and saved[1]["text"] == "other"
