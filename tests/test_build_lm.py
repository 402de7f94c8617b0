"""scripts/build_lm.py: the text LM, optionally mixed with the Google Books lists of a (here fake) symspellpy wheel."""
import importlib.util
import zipfile
from pathlib import Path

import pytest

from speech.lm import NGramLM

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("build_lm", ROOT / "scripts" / "build_lm.py")
build_lm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_lm)

TEXT = "turn on the lights\nwhat time is it\nturn off the lights\nwhat is the weather\n"


def _fake_wheel(downloads: Path) -> None:
    """A wheel with the two list files in symspellpy's layout (the real one is fetched with pip)."""
    downloads.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(downloads / "symspellpy-6.10.1-py3-none-any.whl", "w") as z:
        z.writestr(build_lm._UNIGRAMS, "the 1000\nof 600\nlights 30\namiable 5\nwoman 40\nrésumé 9\n")
        z.writestr(build_lm._BIGRAMS, "of the 9000\namiable woman 100\nthe lights 300\nthe résumé 50\n")


def test_text_only(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    build_lm.main([str(tmp_path / "t.txt"), "--order", "2", "--min-count", "1", "--out", str(tmp_path / "lm.arpa")])
    lm = NGramLM.load_arpa(tmp_path / "lm.arpa")
    assert lm.order == 2 and "lights" in lm and "amiable" not in lm


def test_general_english_mix(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    _fake_wheel(tmp_path / "dl")
    build_lm.main([str(tmp_path / "t.txt"), "--order", "2", "--min-count", "1", "--out", str(tmp_path / "lm.arpa.gz"),
                   "--general-english", "0.3", "--downloads", str(tmp_path / "dl")])
    lm = NGramLM.load_arpa(tmp_path / "lm.arpa.gz")
    assert "amiable" in lm and "lights" in lm and "résumé" not in lm  # outside the alphabet: dropped
    assert lm.score("woman", ("amiable",)) > lm.score("woman", ("lights",))
    text_only = NGramLM.build([line for line in TEXT.splitlines()], order=2)
    assert lm.score("lights", ("the",)) < text_only.score("lights", ("the",))  # 0.7 of the text model's share + more
    general = build_lm.general_english_lm(tmp_path / "dl", max_words=2)
    assert general.vocab == {"the", "of", "<s>", "</s>", "<unk>"}


@pytest.mark.parametrize("args, message", [
    (["--general-english", "1"], "--general-english"),
    (["--general-english", "-0.1"], "--general-english"),
    (["--general-words", "0"], "--general-words"),
    (["--mix", "nofile.txt:0.2"], "not found"),
    (["--mix", "t.txt"], "TEXT:WEIGHT"),
    (["--mix", "t.txt:1.5"], "TEXT:WEIGHT"),
    (["--mix", "t.txt:0.6", "--general-english", "0.5"], "sum to less than 1"),
])
def test_bad_arguments(tmp_path, capsys, args, message):
    (tmp_path / "t.txt").write_text(TEXT)
    args = [str(tmp_path / a) if a.startswith("t.txt:") and a != "t.txt:" else a for a in args]
    with pytest.raises(SystemExit):
        build_lm.main([str(tmp_path / "t.txt"), "--out", str(tmp_path / "x.arpa"), *args])
    assert message in capsys.readouterr().err


def test_mix_a_read_sentence_text(tmp_path):
    """--mix TEXT:W adds the words and word order of another text at weight W."""
    (tmp_path / "t.txt").write_text(TEXT)
    (tmp_path / "read.txt").write_text("andy likes brown bread\nthe girl likes brown shoes\n")
    build_lm.main([str(tmp_path / "t.txt"), "--order", "2", "--min-count", "1", "--out", str(tmp_path / "lm.arpa"),
                   "--mix", f"{tmp_path / 'read.txt'}:0.2"])
    lm = NGramLM.load_arpa(tmp_path / "lm.arpa")
    assert "andy" in lm and "lights" in lm
    text_only = NGramLM.build([line for line in TEXT.splitlines()], order=2)
    assert lm.score("brown", ("likes",)) > lm.score("lights", ("likes",))
    assert lm.score("lights", ("the",)) < text_only.score("lights", ("the",))  # the text model keeps 0.8 of the mass
