"""The README's results table is generated from bench/results/*.json: a stale number fails here."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "readme_results.py"
spec = importlib.util.spec_from_file_location("readme_results", SCRIPT)
readme_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_results)


def test_readme_results_block_matches_bench_results():
    run = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, "README results differ from bench/results; run python scripts/readme_results.py\n" + run.stdout


def test_check_fails_on_a_changed_number_and_rewrite_mends_it(tmp_path):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme_results.render()
    assert block in text
    row = next(line for line in block.splitlines() if line.startswith(f"| `{readme_results.SPEECH_SETS[0][0]}`"))
    cells = row.split("|")
    cells[6] = f" {float(cells[6]) + 1:.1f} "  # the PocketSphinx WER of that set, one point off
    readme.write_text(text.replace(row, "|".join(cells)), encoding="utf-8")
    assert readme.read_text(encoding="utf-8") != text, "the test must change a shipped number"
    assert readme_results.main(["--check", "--readme", str(readme)]) == 1
    assert readme_results.main(["--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == text
    assert readme_results.main(["--check", "--readme", str(readme)]) == 0


def test_every_shipped_set_is_in_the_table():
    asr = readme_results._load("asr_compare.json")
    block = readme_results.render()
    for key, _ in readme_results.SPEECH_SETS:
        assert key in asr["results"] and f"`{key}`" in block


def test_missing_markers_are_a_one_line_error(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# no block here\n", encoding="utf-8")
    assert readme_results.main(["--check", "--readme", str(readme)]) == 2
    assert "no results block" in capsys.readouterr().err
