"""The text and duration rules that decide which found speech lines can be transcripts (scripts/speechdata)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from speechdata import normalize as rules  # noqa: E402


def test_text_problem_names_why_a_line_cannot_be_a_transcript():
    babble = {"ha", "hmm"}
    assert rules.text_problem("Open the door.", "open the door", babble) is None
    assert rules.text_problem("Room 101, please.", "room one hundred one please", babble) == "number"
    assert rules.text_problem("Noooo!", "noooo", babble) == "elongated word"
    assert rules.text_problem("Ha, ha!", "ha ha", babble) == "laughter or babble"
    assert rules.text_problem("***", "", babble) == "not clean after normalising"


def test_duration_problem_bounds_seconds_by_letters():
    assert rules.duration_problem("hello there", 1.0) is None          # 10 letters
    assert rules.duration_problem("hello there", 5.0) == "too long for its text"  # > 0.8 + 10/3
    assert rules.duration_problem("hello there", 0.2) == "too short for its text"  # < 10/25
    assert rules.duration_problem("", 1.0) == "no letters"


def test_non_words_catches_grunts_and_invented_words_but_not_names(tmp_path, monkeypatch):
    words = tmp_path / "words"
    words.write_text("\n".join(["look", "buddy", "i'm", "in", "a", "hurry", "so", "move", "will", "uh",
                                "speak", "don't", "you", "favourite", "ask", "about", "the", "plan"]) + "\n")
    monkeypatch.setattr(rules, "DICTIONARIES", (words,))
    rules._dictionary.cache_clear()
    try:
        assert rules.non_words("Look buddy, I'm in a hurry, so move will ya!") == []   # "ya" is informal
        assert rules.non_words("Uh, oop ungha ugga!") == ["oop", "ungha", "ugga"]
        assert rules.non_words("Ask Naomi about the plan.") == []                     # a name inside a line
        names = rules.names_in(["Ask Sparky about the plan."])
        assert names == {"sparky"}
        assert rules.non_words("Sparky, move!") == ["Sparky"]                          # first word: unknown...
        assert rules.non_words("Sparky, move!", names) == []                           # ...unless a known name
    finally:
        rules._dictionary.cache_clear()


def test_non_words_is_skipped_without_a_word_list(tmp_path, monkeypatch):
    monkeypatch.setattr(rules, "DICTIONARIES", (tmp_path / "missing",))
    rules._dictionary.cache_clear()
    try:
        assert rules.non_words("Uh, oop ungha ugga!") == []
    finally:
        rules._dictionary.cache_clear()


@pytest.mark.parametrize("text,ok", [("turn on the light", True), ("it's ten", True), ("Hello", False),
                                     ("two  spaces", False), ("don''t", False)])
def test_is_clean_is_the_model_alphabet(text, ok):
    assert rules.is_clean(text) is ok


def test_toolkit_transcription_lines_parse_and_bad_ones_are_refused():
    from speechdata.toolkit import read_transcription

    text = "<s> ten of clubs  </s> (001)\n\n<s> he was not an ill disposed young man </s> (sense-0880)\n"
    assert read_transcription(text) == {"001": "ten of clubs", "sense-0880": "he was not an ill disposed young man"}
    with pytest.raises(ValueError, match="not a transcription line"):
        read_transcription("ten of clubs without an id")


def test_toolkit_stage_writes_an_evaluation_manifest_from_the_sdist(tmp_path, monkeypatch):
    """build_toolkit on a small stand-in for the PocketSphinx sdist: every transcribed clip becomes a
    16 kHz FLAC with its normalised text; clips without a transcript are not listed."""
    import io
    import json
    import tarfile

    import numpy as np
    import soundfile as sf

    from speechdata import toolkit

    def wav(seconds: float, rate: int) -> bytes:
        buf = io.BytesIO()
        sf.write(buf, (0.1 * np.sin(np.arange(int(seconds * rate)) / 5.0)).astype(np.float32), rate, format="WAV")
        return buf.getvalue()

    prefix = f"{toolkit.PACKAGE}-{toolkit.VERSION}/test/data/"
    members = {
        "librivox/transcription": b"<s> he might even have been made amiable himself </s> (s-0930)\n",
        "librivox/s-0930.wav": wav(1.5, 16000),
        "cards/cards.transcription": b"<s> ten of clubs </s> (001)\n",
        "cards/001.wav": wav(1.0, 8000),
        "goforward.raw": (np.zeros(3200, dtype="<i2")).tobytes(),
        "numbers.raw": (np.zeros(1600, dtype="<i2")).tobytes(),    # no transcript: left out
    }
    sdist = tmp_path / "ps.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(toolkit, "_fetch_sdist", lambda downloads: sdist)
    summary = toolkit.build_toolkit(tmp_path / "out", tmp_path / "downloads")
    rows = [json.loads(line) for line in (tmp_path / "out" / "toolkit_test.jsonl").read_text().splitlines()]
    assert summary["utterances"] == 3
    assert [(r["corpus"], r["text"]) for r in rows] == [
        ("librivox", "he might even have been made amiable himself"), ("ps_cards", "ten of clubs"),
        ("ps_goforward", "go forward ten meters")]
    assert [r["duration"] for r in rows] == [1.5, 1.0, 0.2]
    assert all(sf.info(r["audio"]).samplerate == 16000 for r in rows)


def test_qabcs_clips_are_labelled_by_file_name(tmp_path, monkeypatch):
    # build_qabcs on a fake unpacked qabcs-data: letters and words of both folders, speakers by folder,
    # a non-letter file in alpha/ dropped; the PocketSphinx label check is replaced by "keep all".
    import numpy as np
    import soundfile as sf
    from speechdata import kidsgames

    root = tmp_path / "deb"
    sr = 16000
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(int(0.5 * sr)) / sr).astype(np.float32)
    clip = np.concatenate([np.zeros(sr // 10, np.float32), tone, np.zeros(sr // 10, np.float32)])
    for rel in ("en/sounds/alpha/B.ogg", "en/sounds/alpha/ch.ogg", "en/sounds/words/paper_airplane.ogg",
                "en_gb/sounds/words/doughnut.ogg"):
        path = root / "usr/share/qabcs/abcs" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), clip, sr, format="OGG", subtype="VORBIS")
    monkeypatch.setattr(kidsgames, "fetch_deb", lambda package, downloads: root)
    monkeypatch.setattr(kidsgames, "_verify", lambda source, rows, out, tools: {"kept": len(rows), "rows": rows})
    stats = kidsgames.build_qabcs(tmp_path / "out", tmp_path / "downloads", tmp_path / "tools")
    got = sorted((r["speaker"], r["kind"], r["text"]) for r in stats["rows"])
    assert got == [("qabcs_en_gb", "words", "doughnut"), ("qabcs_en_us", "alpha", "b"),
                   ("qabcs_en_us", "words", "paper airplane")]
    assert stats["dropped_before_check"] == {"not a single letter": 1}
    assert kidsgames.qabcs_label(Path("a/en/sounds/alpha/Z.ogg")) == ("alpha", "z")


def test_read_train_sentences_leave_out_dev_and_test_text_and_arctic_prompts(tmp_path):
    import json

    from speechdata.text import read_train_sentences

    def write(name, rows):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))

    write("train.jsonl", [
        {"text": "ANDY LIKES BROWN BREAD", "corpus": "speechocean762"},
        {"text": "WE CALL IT BEAR", "corpus": "speechocean762"},  # the same prompt is read in test
        {"text": "THE BIG DOG RAN FAST AWAY", "corpus": "speechocean762"},  # shares five words with dev
        {"text": "AUTHOR OF THE DANGER TRAIL", "corpus": "kathleen"},  # ARCTIC: Gutenberg text
    ])
    write("dev.jsonl", [{"text": "SEE THE BIG DOG RAN FAST AWAY NOW", "corpus": "speechocean762"}])
    write("test.jsonl", [{"text": "WE CALL IT BEAR", "corpus": "speechocean762"}])
    assert read_train_sentences(tmp_path, lambda t: t.lower()) == ["andy likes brown bread"]


def test_found_words_joins_the_four_game_manifests_once_all_exist(tmp_path):
    import importlib.util
    import json

    path = Path(__file__).resolve().parent.parent / "scripts" / "prepare_speech_data.py"
    spec = importlib.util.spec_from_file_location("prepare_speech_data", path)
    prep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prep)
    for i, kid in enumerate(prep.FOUND_WORDS[:3]):
        (tmp_path / f"{kid}.jsonl").write_text(json.dumps({"audio": f"{kid}.flac", "text": "ball", "duration": 1}) + "\n")
    assert prep.join_found_words(tmp_path) is None and not (tmp_path / "found_words.jsonl").exists()
    (tmp_path / f"{prep.FOUND_WORDS[3]}.jsonl").write_text("")
    assert prep.join_found_words(tmp_path) == 3
    rows = (tmp_path / "found_words.jsonl").read_text().splitlines()
    assert [json.loads(r)["audio"] for r in rows] == [f"{k}.flac" for k in prep.FOUND_WORDS[:3]]
