"""bench/bench_speech.py: real clips from a manifest are joined to the asked length."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bench_speech", ROOT / "bench" / "bench_speech.py")
bench_speech = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_speech)


def test_clips_joins_manifest_audio_in_order_up_to_the_length(tmp_path):
    rows = []
    for k in range(3):
        path = tmp_path / f"c{k}.wav"
        soundfile.write(path, np.full(8000, 0.1 * (k + 1), dtype=np.float32), 16000)  # 0.5 s each, level k+1
        rows.append({"audio": str(path), "text": "hello", "duration": 0.5})
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    audio = bench_speech.clips(str(manifest), 1.2)
    assert audio.dtype == np.float32 and audio.size == 19200
    assert audio[:8000] == pytest.approx(0.1, abs=1e-3) and audio[8000:16000] == pytest.approx(0.2, abs=1e-3)
    assert bench_speech.clips(str(manifest), 10.0).size == 24000  # all there is
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(SystemExit, match="no clips"):
        bench_speech.clips(str(tmp_path / "empty.jsonl"), 1.0)
