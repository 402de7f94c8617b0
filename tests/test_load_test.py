"""bench/load_test.py end to end on tiny models: a real server subprocess, two real-time clients, generated audio."""
import json
import sys
from pathlib import Path

import pytest

from test_pipeline import untrained_recognizer, untrained_responder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import load_test  # noqa: E402


def test_speech_onset_finds_the_first_loud_window():
    import numpy as np

    audio = np.zeros(16000, dtype=np.float32)
    audio[6000:] = 0.3 * np.sin(np.arange(10000) * 0.1)
    assert load_test.speech_onset(audio) == pytest.approx(0.37, abs=0.011)


@pytest.mark.slow
def test_two_sessions_on_tiny_models(tmp_path):
    asr, bot = tmp_path / "asr.pt", tmp_path / "bot.pt"
    untrained_recognizer().save(asr)
    untrained_responder().save(bot)
    out = tmp_path / "load"
    report = load_test.main(["--generated", "--sessions", "2", "--utterances", "2", "--out", str(out),
                             f"--server-arg=--speech-model={asr}", f"--server-arg=--dialogue-model={bot}"])
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved == json.loads(json.dumps(report))
    try:
        import matplotlib  # noqa: F401  (a bench extra: the plot is written only where it is installed)
    except ImportError:
        assert not out.with_suffix(".png").exists()
    else:
        assert out.with_suffix(".png").stat().st_size > 1000
    (row,) = saved["runs"]
    assert row["sessions"] == 2 and row["completed_sessions"] == 2 and row["utterances"] == 4
    assert row["failures"] == {}  # nothing lost, reordered, refused or timed out
    assert row["endpoint_to_final_ms"]["n"] == 4 and row["endpoint_to_final_ms"]["p50"] > 0
    assert row["final_to_first_token_ms"]["n"] == 4
    assert row["server_cpu_percent_mean"] > 0 and row["server_rss_mb_peak"] > 50
    assert isinstance(row["meets_targets"], bool) and saved["batching"] is True
